package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// mirrorkit serve: HTTP and the supervised rsync daemon serve the tree, hide
// staged content until the bit flip, and stop cleanly.
func TestServeCommand(t *testing.T) {
	rsync := testutil.RequireTool(t, "rsync")
	c := newCLI(t)
	root := filepath.Join(c.dir, "pub")
	os.MkdirAll(filepath.Join(root, "releases", "41"), 0o755)
	os.MkdirAll(filepath.Join(root, "releases", "42"), 0o755)
	os.WriteFile(filepath.Join(root, "releases", "41", "x.iso"), []byte("forty-one"), 0o644)
	os.WriteFile(filepath.Join(root, "releases", "42", "y.iso"), []byte("forty-two"), 0o640)
	os.Chmod(filepath.Join(root, "releases", "42"), 0o750)
	if err := testutil.MakeTraversable(root); err != nil {
		t.Fatal(err)
	}
	httpAddr, metrics := testutil.ClosedAddr(t), testutil.ClosedAddr(t)
	_, rsyncPort, _ := net.SplitHostPort(testutil.ClosedAddr(t))
	c.env = append(c.env, "MIRRORKIT_SERVE_STATE_DIR="+filepath.Join(c.dir, "state"), "MIRRORKIT_SERVE_METRICS_LISTEN="+metrics,
		"MIRRORKIT_SERVE_RSYNC_ADDRESS=127.0.0.1")
	args := []string{"serve", "--root", root, "--http", httpAddr, "--rsync-port", rsyncPort}

	if conf := c.ok(append(args, "rsyncd-conf")...); !strings.Contains(conf, "[pub]") || !strings.Contains(conf, "refuse options") {
		t.Fatalf("rsyncd-conf:\n%s", conf)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "", args...) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if r := <-done; r.code != 0 {
				t.Errorf("serve exit %d: %s", r.code, r.err)
			}
		}
	}
	defer stop()

	get := func(p string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + p)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("/releases/41/x.iso"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never answered over HTTP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/releases/41/x.iso"); code != http.StatusOK || body != "forty-one" {
		t.Fatalf("public file: %d %q", code, body)
	}
	if code, _ := get("/releases/42/y.iso"); code != http.StatusNotFound {
		t.Fatalf("staged file over HTTP: %d", code)
	}
	list := func() string {
		out, err := exec.Command(rsync, "-r", "--list-only", "--no-motd", "rsync://127.0.0.1:"+rsyncPort+"/pub/").CombinedOutput()
		if err != nil {
			t.Fatalf("rsync listing: %v\n%s", err, out)
		}
		return string(out)
	}
	if l := list(); !strings.Contains(l, "releases/41/x.iso") || strings.Contains(l, "y.iso") {
		t.Fatalf("rsync listing before the flip:\n%s", l)
	}
	if out, err := exec.Command(rsync, "-c", "rsync://127.0.0.1:"+rsyncPort+"/pub/releases/41/x.iso", filepath.Join(c.dir, "x")).CombinedOutput(); err == nil {
		t.Fatalf("rsync --checksum was not refused:\n%s", out)
	}

	// The bit flip opens it everywhere.
	c.ok("release", "flip", "--root", root, "releases/42")
	if code, body := get("/releases/42/y.iso"); code != http.StatusOK || body != "forty-two" {
		t.Fatalf("flipped file over HTTP: %d %q", code, body)
	}
	if l := list(); !strings.Contains(l, "releases/42/y.iso") {
		t.Fatalf("rsync listing after the flip:\n%s", l)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mirrorkit_rsyncd_restarts_total") || !strings.Contains(string(body), "mirrorkit_fileserver_") {
		t.Fatalf("metrics lack the server's or the daemon's:\n%.2000s", body)
	}

	stop()
	// Nothing is left listening.
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+rsyncPort, time.Second); err == nil {
		conn.Close()
		t.Fatal("the rsync daemon outlived serve")
	}
}

// A flag given overrides [serve] even when empty or zero: --http "" and
// --rsync-port 0 turn those off, and turning everything off is refused.
func TestServeFlagsOverride(t *testing.T) {
	c := newCLI(t)
	root := t.TempDir()
	c.env = append(c.env, "MIRRORKIT_SERVE_STATE_DIR="+filepath.Join(c.dir, "state"))
	if r := c.run("serve", "--root", root, "--http", "", "--rsync-port", "0"); r.code != exitUsage || !strings.Contains(r.err, "nothing to serve") {
		t.Fatalf("everything off: exit %d: %s", r.code, r.err)
	}
	if r := c.run("serve", "--root", root, "--rsync-port", "-5"); r.code != exitUsage || !strings.Contains(r.err, "--rsync-port: -5") {
		t.Fatalf("negative port: exit %d: %s", r.code, r.err)
	}
	// The config's rsync port (873) is kept unless the flag is given.
	if conf := c.ok("serve", "--root", root, "rsyncd-conf"); !strings.Contains(conf, "port = 873") {
		t.Fatalf("rsyncd-conf without --rsync-port:\n%s", conf)
	}
	if conf := c.ok("serve", "--root", root, "--rsync-port", "8730", "rsyncd-conf"); !strings.Contains(conf, "port = 8730") {
		t.Fatalf("rsyncd-conf with --rsync-port 8730:\n%s", conf)
	}

	// rsync alone, without HTTP: it serves the module until stopped.
	rsync := testutil.RequireTool(t, "rsync")
	_, port, _ := net.SplitHostPort(testutil.ClosedAddr(t))
	c.env = append(c.env, "MIRRORKIT_SERVE_METRICS_LISTEN=", "MIRRORKIT_SERVE_RSYNC_ADDRESS=127.0.0.1")
	defer c.background("serve", "--root", root, "--http", "", "--rsync-port", port)()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(rsync, "rsync://127.0.0.1:"+port+"/").CombinedOutput()
		if err == nil && strings.Contains(string(out), "pub") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsync-only serve never listed its module: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
