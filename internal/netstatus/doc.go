// Package netstatus is the public picture of the mirror network at one
// moment: every public mirror with its location, protocols, freshness,
// completion, probe results and the reasons it gets no clients right now.
//
// One model feeds the JSON API, the HTML pages and the map, so the three
// never disagree. It is built off the hot path from what the redirector
// already holds (registry, scans, probes) and replaced as a whole on every
// refresh; readers take the current value and never see half an update.
//
// Everything here may be shown to anyone: private mirrors and private notes
// never enter it (Build leaves them out), which is easier to keep true than
// filtering at every output.
package netstatus
