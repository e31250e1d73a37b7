package rsync

import (
	"strconv"
	"strings"
	"testing"
)

func TestTransient(t *testing.T) {
	for code, want := range map[int]bool{
		ExitSyntax: false, ExitProtocol: false, ExitFileSelect: false, ExitUnsupported: false,
		ExitStartClient: false, ExitLog: false, ExitFileIO: false, ExitMessageIO: false, ExitIPC: false,
		ExitWaitChild: false, ExitMalloc: false, ExitDelLimit: false,
		ExitSocketIO: true, ExitStreamIO: true, ExitSignal: true, ExitPartial: true, ExitVanished: true,
		ExitTimeout: true, ExitConnectTimeout: true, ExitKilled: true,
	} {
		e := &ExitError{Code: code, Meaning: Meaning(code)}
		if got := e.Transient(); got != want {
			t.Errorf("code %d (%s): Transient = %v, want %v", code, e.Meaning, got, want)
		}
	}
	busy := &ExitError{Code: ExitStartClient, Stderr: []string{"@ERROR: max connections (10) reached -- try again later"}}
	if !busy.Transient() {
		t.Error("a daemon at its connection limit is transient")
	}
	auth := &ExitError{Code: ExitStartClient, Stderr: []string{"@ERROR: auth failed on module sec"}}
	if auth.Transient() {
		t.Error("an auth failure is permanent")
	}
}

func TestMeaning(t *testing.T) {
	for code, want := range map[int]string{
		1: "syntax or usage error", 2: "protocol incompatibility", 3: "errors selecting input/output files, dirs",
		4: "requested action not supported", 5: "error starting client-server protocol",
		6: "daemon unable to append to log-file", 10: "error in socket I/O", 11: "error in file I/O",
		12: "error in rsync protocol data stream", 13: "errors with program diagnostics", 14: "error in IPC code",
		20: "received SIGINT, SIGTERM, or SIGHUP", 21: "some error returned by waitpid()",
		22: "error allocating core memory buffers", 23: "partial transfer due to error",
		24: "partial transfer due to vanished source files", 25: "the --max-delete limit stopped deletions",
		30: "timeout in data send/receive", 35: "timeout waiting for daemon connection", 99: "unknown exit code",
	} {
		if got := Meaning(code); got != want {
			t.Errorf("Meaning(%d) = %q, want %q", code, got, want)
		}
	}
}

// The stderr tails below are what rsync 3.5.0 printed.
func TestExitErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		code   int
		stderr []string
		last   string
	}{
		{23, []string{
			`rsync: [sender] link_stat "nothere" (in mod) failed: No such file or directory (2)`,
			`rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1956) [Receiver=3.5.0]`,
			`rsync: [Receiver] read error: Connection reset by peer (104)`,
		}, `rsync: [sender] link_stat "nothere" (in mod) failed: No such file or directory (2)`},
		{5, []string{
			`@ERROR: auth failed on module sec`,
			`rsync error: error starting client-server protocol (code 5) at main.c(1954) [Receiver=3.5.0]`,
		}, `@ERROR: auth failed on module sec`},
		{10, []string{
			`rsync: [Receiver] failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)`,
			`rsync error: error in socket IO (code 10) at clientserver.c(165) [Receiver=3.5.0]`,
		}, `rsync: [Receiver] failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)`},
		{30, []string{`rsync error: timeout in data send/receive (code 30) at io.c(248) [Receiver=3.5.0]`},
			`rsync error: timeout in data send/receive (code 30) at io.c(248) [Receiver=3.5.0]`},
	} {
		e := &ExitError{Code: tc.code, Meaning: Meaning(tc.code), Stderr: tc.stderr, LastLine: lastLine(tc.stderr, tc.code)}
		if e.LastLine != tc.last {
			t.Errorf("code %d: LastLine = %q, want %q", tc.code, e.LastLine, tc.last)
		}
		msg := e.Error()
		for _, want := range []string{Meaning(tc.code), tc.last, "code " + strconv.Itoa(tc.code)} {
			if !strings.Contains(msg, want) {
				t.Errorf("Error() = %q lacks %q", msg, want)
			}
		}
	}
}

func TestLineTail(t *testing.T) {
	var seen []string
	w := &lineTail{max: 3, each: func(l string) { seen = append(seen, l) }}
	for _, chunk := range []string{"one\ntw", "o\n\nthree\nfour\r\n", strings.Repeat("x", 5000), "\nlast"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	got := w.lines()
	if len(got) != 3 || got[0] != "four" || len(got[1]) != maxLineLen || got[2] != "last" {
		t.Fatalf("lines = %q", got)
	}
	if len(seen) != 6 || seen[0] != "one" || seen[1] != "two" || seen[5] != "last" {
		t.Fatalf("each saw %d lines: %.40q", len(seen), seen)
	}
}
