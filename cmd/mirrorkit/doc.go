// Command mirrorkit runs a software distribution's download-mirror network: the
// registry of mirrors, the redirector, scanners and probes on the publisher's
// side, and the sync agent and mirror server on the mirror operator's side.
//
// This package is wiring only: flags, configuration, and starting services from
// the internal packages. `mirrorkit --help` lists the commands; docs/cli.md
// documents them with their exit codes.
package main
