package fileserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// combinedIO is the Fedora seed's LogFormat:
// %h %l %u %t "%r" %>s %b "%{Referer}i" %I %O "%{User-Agent}i"
var combinedIO = regexp.MustCompile(`^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (\d+|-) "([^"\\]*(?:\\.[^"\\]*)*)" (\d+) (\d+) "([^"\\]*(?:\\.[^"\\]*)*)"$`)

type logLine struct {
	host, request, referer, agent string
	status                        int
	body, in, out                 int64
}

func parseLog(t testing.TB, line string) logLine {
	t.Helper()
	m := combinedIO.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("log line does not match the combined+%%I%%O format:\n%s", line)
	}
	n := func(s string) int64 {
		if s == "-" {
			return 0
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		return v
	}
	return logLine{host: m[1], request: m[3], status: int(n(m[4])), body: n(m[5]), referer: m[6], in: n(m[7]), out: n(m[8]), agent: m[9]}
}

func readLines(t testing.TB, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func awaitLines(t testing.TB, p string, n int) []string {
	t.Helper()
	var lines []string
	await(t, fmt.Sprintf("%d lines in %s", n, p), func() bool {
		lines = readLines(t, p)
		return len(lines) >= n
	})
	return lines
}

// TestAccessLogBytesMatchCurl: %I and %O are what curl counts on the wire.
func TestAccessLogBytesMatchCurl(t *testing.T) {
	root, data := contentTree(t)
	cfg := DefaultConfig(root)
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	ts := start(t, cfg)
	// Two transfers on one connection, and a 206 and a 404.
	var args []string
	for i, extra := range [][]string{nil, {"-r", "10-109"}, nil} {
		if i > 0 {
			args = append(args, "--next")
		}
		p := "/iso/Fedora-40.iso"
		if i == 2 {
			p = "/staged/nothing"
		}
		args = append(args, "-sS", "-A", `agent "quoted"`, "-e", "http://ref.example/",
			"-w", `%{size_request} %{size_header} %{size_download}\n`, "-o", "/dev/null")
		args = append(append(args, extra...), ts.URL+p)
	}
	out := mustRun(t, "curl", args...)
	counts := strings.Split(strings.TrimSpace(out), "\n")
	lines := awaitLines(t, cfg.AccessLog, 3)
	wantStatus := []int{200, 206, 404}
	for i, l := range lines {
		got := parseLog(t, l)
		var req, hdr, body int64
		fmt.Sscan(counts[i], &req, &hdr, &body)
		if got.status != wantStatus[i] || got.in != req || got.out != hdr+body || got.body != body {
			t.Errorf("line %d: status %d %%b %d %%I %d %%O %d; curl: request %d, header %d, body %d\n%s",
				i, got.status, got.body, got.in, got.out, req, hdr, body, l)
		}
		if got.host != "127.0.0.1" || got.agent != `agent \"quoted\"` || got.referer != "http://ref.example/" {
			t.Errorf("line %d: host %q agent %q referer %q", i, got.host, got.agent, got.referer)
		}
	}
	if got := parseLog(t, lines[0]); got.body != int64(len(data)) || got.request != "GET /iso/Fedora-40.iso HTTP/1.1" {
		t.Errorf("first line: %+v", got)
	}
}

// TestAccessLogInterruptedDownload: a client that reads a little and hangs
// up is logged with what the connection really carried, not the file size.
func TestAccessLogInterruptedDownload(t *testing.T) {
	root := t.TempDir()
	const size = 64 << 20
	writeFile(t, filepath.Join(root, "big.iso"), pattern(size), 0o644)
	cfg := DefaultConfig(root)
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	ts := start(t, cfg)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return serr
	}}
	c, err := d.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /big.iso HTTP/1.1\r\nHost: x\r\nUser-Agent: quitter\r\n\r\n"
	io.WriteString(c, req)
	const take = 1 << 20
	n, err := io.CopyN(io.Discard, c, take)
	if err != nil || n != take {
		t.Fatalf("read %d: %v", n, err)
	}
	c.(*net.TCPConn).SetLinger(0) // a reset: the server's next write fails at once
	c.Close()
	got := parseLog(t, awaitLines(t, cfg.AccessLog, 1)[0])
	if got.status != 200 || got.in != int64(len(req)) {
		t.Errorf("status %d %%I %d, want 200 and %d", got.status, got.in, len(req))
	}
	if got.out < take || got.out >= size/2 || got.body >= size/2 {
		t.Errorf("%%O %d %%b %d for a client that read %d of %d bytes", got.out, got.body, take, size)
	}
	t.Logf("client read %d bytes; logged %%b %d %%O %d", take, got.body, got.out)
}

func TestAccessLogRotationAndReopen(t *testing.T) {
	root, _ := contentTree(t)
	dir := t.TempDir()
	cfg := DefaultConfig(root)
	cfg.AccessLog = filepath.Join(dir, "access.log")
	cfg.AccessLogMaxBytes = 4096
	cfg.AccessLogKeep = 2
	ts := start(t, cfg)
	client := &http.Client{}
	total := 0
	for i := range 80 {
		resp, err := client.Get(ts.URL + "/README.txt?n=" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		total++
	}
	client.CloseIdleConnections()
	// Every line is written somewhere: the live file holds the last one.
	await(t, "the last request's line", func() bool {
		lines := readLines(t, cfg.AccessLog)
		return len(lines) > 0 && strings.Contains(lines[len(lines)-1], "?n=79 ")
	})
	for _, name := range []string{"access.log", "access.log.1", "access.log.2"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Size() > cfg.AccessLogMaxBytes || fi.Size() == 0 {
			t.Errorf("%s: %d bytes, want 1..%d", name, fi.Size(), cfg.AccessLogMaxBytes)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "access.log.3")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("access.log.3 exists with keep=2: %v", err)
	}
	// Consecutive: .2 ends where .1 starts, .1 where the live file starts.
	l2, l1, l0 := readLines(t, cfg.AccessLog+".2"), readLines(t, cfg.AccessLog+".1"), readLines(t, cfg.AccessLog)
	seq := func(l string) int {
		_, after, _ := strings.Cut(l, "?n=")
		n, _ := strconv.Atoi(strings.Fields(after)[0])
		return n
	}
	if seq(l2[len(l2)-1])+1 != seq(l1[0]) || seq(l1[len(l1)-1])+1 != seq(l0[0]) {
		t.Errorf("rotation lost or reordered lines: .2 ends %d, .1 %d..%d, live starts %d", seq(l2[len(l2)-1]), seq(l1[0]), seq(l1[len(l1)-1]), seq(l0[0]))
	}

	// Reopen after an external rotator moved the file.
	moved := filepath.Join(dir, "moved.log")
	if err := os.Rename(cfg.AccessLog, moved); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "curl", "-sS", "-o", "/dev/null", ts.URL+"/README.txt?after-reopen")
	lines := awaitLines(t, cfg.AccessLog, 1)
	if len(lines) != 1 || !strings.Contains(lines[0], "after-reopen") {
		t.Errorf("after Reopen the new file holds %q", lines)
	}
	for _, l := range readLines(t, moved) {
		if strings.Contains(l, "after-reopen") {
			t.Errorf("a line went to the moved file after Reopen")
		}
	}
}

// TestRunDrainsThenCuts: Run's shutdown waits for a download in progress up
// to ShutdownTimeout, then closes it, logs it, and returns.
func TestRunDrainsThenCuts(t *testing.T) {
	root := t.TempDir()
	const size = 64 << 20
	writeFile(t, filepath.Join(root, "big.iso"), pattern(size), 0o644)
	writeFile(t, filepath.Join(root, "small.txt"), []byte("small\n"), 0o644)
	cfg := DefaultConfig(root)
	cfg.Listen = testutil.ClosedAddr(t)
	cfg.ShutdownTimeout = 500 * time.Millisecond
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	s, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var c net.Conn
	await(t, "Run to listen", func() bool {
		c, err = net.Dial("tcp", cfg.Listen)
		return err == nil
	})
	defer c.Close()
	// An idle keep-alive connection and a stalled download.
	idle, err := net.Dial("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("small: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	io.WriteString(c, "GET /big.iso HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := io.CopyN(io.Discard, c, 1000); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context ended")
	}
	if el := time.Since(t0); el < cfg.ShutdownTimeout-50*time.Millisecond {
		t.Errorf("Run returned after %v, before draining for %v", el, cfg.ShutdownTimeout)
	}
	idle.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := br.ReadByte(); err == nil {
		t.Error("idle connection still open after shutdown")
	}
	// The cut download is in the log, with less than the whole file.
	var found bool
	for _, l := range readLines(t, cfg.AccessLog) {
		if got := parseLog(t, l); strings.Contains(got.request, "big.iso") {
			found = true
			if got.status != 200 || got.out >= size {
				t.Errorf("cut download logged as %+v", got)
			}
		}
	}
	if !found {
		t.Error("the cut download has no log line")
	}
}
