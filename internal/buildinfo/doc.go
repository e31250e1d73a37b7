// Package buildinfo says which mirrorkit this is. Version and Commit are set at
// link time (see the Makefile); a plain `go build` falls back to what the Go
// toolchain recorded.
package buildinfo
