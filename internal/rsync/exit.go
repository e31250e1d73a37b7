package rsync

import (
	"fmt"
	"strings"
)

// Exit codes, as rsync(1) documents them under "EXIT VALUES" and rsync's
// errcode.h defines the rest.
const (
	ExitOK              = 0
	ExitSyntax          = 1
	ExitProtocol        = 2
	ExitFileSelect      = 3
	ExitUnsupported     = 4
	ExitStartClient     = 5
	ExitLog             = 6
	ExitSocketIO        = 10
	ExitFileIO          = 11
	ExitStreamIO        = 12
	ExitMessageIO       = 13
	ExitIPC             = 14
	ExitCrashed         = 15
	ExitTerminated      = 16
	ExitSignal1         = 19
	ExitSignal          = 20
	ExitWaitChild       = 21
	ExitMalloc          = 22
	ExitPartial         = 23
	ExitVanished        = 24
	ExitDelLimit        = 25
	ExitTimeout         = 30
	ExitConnectTimeout  = 35
	ExitCommandFailed   = 124
	ExitCommandKilled   = 125
	ExitCommandRun      = 126
	ExitCommandNotFound = 127
	// ExitKilled is not rsync's: it is the Code of an ExitError for an rsync
	// that a signal killed before it could exit by itself.
	ExitKilled = -1
)

var meanings = map[int]string{
	ExitOK:              "success",
	ExitSyntax:          "syntax or usage error",
	ExitProtocol:        "protocol incompatibility",
	ExitFileSelect:      "errors selecting input/output files, dirs",
	ExitUnsupported:     "requested action not supported",
	ExitStartClient:     "error starting client-server protocol",
	ExitLog:             "daemon unable to append to log-file",
	ExitSocketIO:        "error in socket I/O",
	ExitFileIO:          "error in file I/O",
	ExitStreamIO:        "error in rsync protocol data stream",
	ExitMessageIO:       "errors with program diagnostics",
	ExitIPC:             "error in IPC code",
	ExitCrashed:         "sibling process crashed",
	ExitTerminated:      "sibling process terminated abnormally",
	ExitSignal1:         "status returned when sent SIGUSR1",
	ExitSignal:          "received SIGINT, SIGTERM, or SIGHUP",
	ExitWaitChild:       "some error returned by waitpid()",
	ExitMalloc:          "error allocating core memory buffers",
	ExitPartial:         "partial transfer due to error",
	ExitVanished:        "partial transfer due to vanished source files",
	ExitDelLimit:        "the --max-delete limit stopped deletions",
	ExitTimeout:         "timeout in data send/receive",
	ExitConnectTimeout:  "timeout waiting for daemon connection",
	ExitCommandFailed:   "remote shell command failed",
	ExitCommandKilled:   "remote shell killed",
	ExitCommandRun:      "remote command could not be run",
	ExitCommandNotFound: "remote command not found",
	ExitKilled:          "killed by a signal",
}

// Meaning is rsync's documented meaning of an exit code.
func Meaning(code int) string {
	if m, ok := meanings[code]; ok {
		return m
	}
	return "unknown exit code"
}

// ExitError is an rsync run that failed, with rsync's own explanation.
type ExitError struct {
	// Code is rsync's exit code, or ExitKilled when a signal ended it.
	Code    int
	Meaning string
	// LastLine is rsync's last stderr line that says something (see
	// lastLine), "" when rsync said nothing.
	LastLine string
	// Stderr holds the last lines rsync wrote to stderr, oldest first.
	Stderr []string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("rsync exit code %d (%s)", e.Code, e.Meaning)
	if e.LastLine != "" {
		msg += ": " + e.LastLine
	}
	return msg
}

// Mentions reports whether any retained stderr line contains s, which is how
// callers tell apart the many failures that share exit code 5 or 23.
func (e *ExitError) Mentions(s string) bool {
	for _, l := range e.Stderr {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Transient reports whether the same run may well succeed later without
// anyone changing anything: network and timeout failures, a daemon at its
// connection limit, files changing under a running transfer. Usage,
// protocol, authentication and local errors are permanent until fixed.
//
// Exit codes 23 and 24 count as transient because on a mirror they almost
// always mean the upstream was mid-update; a caller for whom a partial
// result is harmful (a sync about to delete) must still decide whether
// retrying is safe.
func (e *ExitError) Transient() bool {
	switch e.Code {
	case ExitSocketIO, ExitStreamIO, ExitSignal1, ExitSignal, ExitPartial, ExitVanished,
		ExitTimeout, ExitConnectTimeout, ExitKilled:
		return true
	case ExitStartClient:
		// Busy public daemons refuse with "@ERROR: max connections (N)
		// reached -- try again later", under the same code as a bad module.
		return e.Mentions("max connections")
	}
	return false
}

// lastLine picks rsync's last meaningful stderr line. rsync ends a failure
// with "rsync error: <meaning> (code N) at file.c(123)", which only restates
// the exit code, and a client whose daemon reported an error and hung up
// adds "read error: Connection reset by peer" after it; both are passed over
// when an earlier line exists.
func lastLine(lines []string, code int) string {
	noise := func(l string) bool {
		if strings.HasPrefix(l, "rsync error: ") {
			return true
		}
		return code != ExitSocketIO && code != ExitStreamIO && strings.Contains(l, "read error: Connection reset by peer")
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !noise(l) {
			return l
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
