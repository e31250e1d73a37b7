package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// ignoreOwn leaves out rsync's temporary names and the trace mirrorkit
// writes into the tree, for comparing a mirror with its upstream.
func ignoreOwn(rel string, d os.DirEntry) bool {
	return synctest.RsyncTemp(rel, d) || rel == "project" || strings.HasPrefix(rel, "project/")
}

func TestSyncCommand(t *testing.T) {
	c := newCLI(t)
	up := filepath.Join(c.dir, "upstream")
	for p, body := range map[string]string{
		"lastupdate":                    "1767323045\n",
		"releases/40/x.iso":             strings.Repeat("iso", 5000),
		"repo/repodata/repomd.xml":      "<repomd/>",
		"repo/Packages/a/a-1.0.rpm":     "rpm",
		"old/gone-after-the-first-sync": "bye",
	} {
		full := filepath.Join(up, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(body), 0o644)
	}
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: up})
	dest := filepath.Join(c.dir, "mirror")
	state := filepath.Join(c.dir, "state")
	args := []string{"sync", "--upstream", d.URL("pub"), "--dest", dest, "--lastupdate", "lastupdate", "--state-dir", state, "--name", "pub"}

	out := c.ok(args...)
	if !strings.Contains(out, "pub: synced") {
		t.Fatalf("first run: %s", out)
	}
	same := func() {
		t.Helper()
		want, err := synctest.Snapshot(up, ignoreOwn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := synctest.Snapshot(dest, ignoreOwn)
		if err != nil {
			t.Fatal(err)
		}
		if diff := synctest.Diff(want, got); len(diff) > 0 {
			t.Fatalf("mirror differs from upstream:\n%s", strings.Join(diff, "\n"))
		}
	}
	same()
	if _, err := os.Stat(filepath.Join(dest, "project", "trace", "pub")); err != nil {
		t.Fatalf("no trace file written: %v", err)
	}

	// Nothing changed upstream: skipped at once.
	if out := c.ok(args...); !strings.Contains(out, "pub: unchanged") {
		t.Fatalf("second run: %s", out)
	}

	// The upstream loses most of its tree: the guard refuses, exit 6, the
	// mirror keeps everything.
	os.RemoveAll(filepath.Join(up, "releases"))
	os.RemoveAll(filepath.Join(up, "old"))
	os.RemoveAll(filepath.Join(up, "repo", "Packages"))
	os.WriteFile(filepath.Join(up, "lastupdate"), []byte("1767400000\n"), 0o644)
	// Same size as before: a new mtime is what tells rsync's quick check.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(up, "lastupdate"), later, later)
	r := c.run(append(args, "--json")...)
	var res syncer.Result
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.out)
	}
	if r.code != exitRefused || res.Outcome != syncer.OutcomeRefused {
		t.Fatalf("mass deletion: exit %d, outcome %q\n%s", r.code, res.Outcome, r.err)
	}
	if _, err := os.Stat(filepath.Join(dest, "releases", "40", "x.iso")); err != nil {
		t.Fatal("the refused run deleted content")
	}
	// An operator lets it pass once.
	if out := c.ok(append(args, "--max-delete", "1")...); !strings.Contains(out, "pub: synced") {
		t.Fatalf("allowed run: %s", out)
	}
	same()

	// Status, as a table and as JSON.
	if out := c.ok("sync", "status", "--state-dir", state, "pub"); !strings.Contains(out, "synced") {
		t.Fatalf("status: %s", out)
	}
	var sts []syncer.Status
	if err := json.Unmarshal([]byte(c.ok("sync", "status", "--state-dir", state, "--json", "pub")), &sts); err != nil ||
		len(sts) != 1 || sts[0].Last == nil || sts[0].Last.Outcome != syncer.OutcomeSynced || sts[0].Running {
		t.Fatalf("status JSON: %+v %v", sts, err)
	}

	// Configured jobs, and the errors around them.
	cfg := filepath.Join(c.dir, "sync.toml")
	os.WriteFile(cfg, []byte("[sync]\nstate_dir = \""+state+"\"\n\n[sync.jobs.pub]\nupstream = \""+d.URL("pub")+
		"\"\ndest = \""+dest+"\"\nupstream_trace = \"lastupdate\"\n"), 0o644)
	if out := c.ok("--config", cfg, "sync", "pub"); !strings.Contains(out, "pub: unchanged") {
		t.Fatalf("configured job: %s", out)
	}
	if r := c.run("--config", cfg, "sync", "nope"); r.code != exitNotFound {
		t.Fatalf("unknown job: exit %d %s", r.code, r.err)
	}
	if r := c.run("sync", "--upstream", "ftp://x/", "--dest", dest, "--state-dir", state); r.code != exitConfig || !strings.Contains(r.err, "upstream") {
		t.Fatalf("bad upstream: exit %d %s", r.code, r.err)
	}
	if r := c.run("sync", "--state-dir", state); r.code != exitUsage {
		t.Fatalf("no jobs at all: exit %d %s", r.code, r.err)
	}
}

// The daemon takes authenticated pushes and counts its runs in /metrics.
func TestSyncDaemonPushAndMetrics(t *testing.T) {
	c := newCLI(t)
	up := filepath.Join(c.dir, "upstream")
	os.MkdirAll(filepath.Join(up, "pub"), 0o755)
	os.WriteFile(filepath.Join(up, "pub", "file"), []byte("content"), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: up})
	token := filepath.Join(c.dir, "token")
	os.WriteFile(token, []byte("s3cret-push-token-0123\n"), 0o600)
	push, metrics := testutil.ClosedAddr(t), testutil.ClosedAddr(t)
	cfg := filepath.Join(c.dir, "sync.toml")
	os.WriteFile(cfg, []byte("[sync]\nstate_dir = \""+filepath.Join(c.dir, "state")+"\"\npush_listen = \""+push+
		"\"\npush_token_file = \""+token+"\"\nmetrics_listen = \""+metrics+"\"\n\n[sync.jobs.pub]\nupstream = \""+d.URL("pub")+
		"\"\ndest = \""+filepath.Join(c.dir, "mirror")+"\"\n"), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.runCtx(ctx, "", "--config", cfg, "sync", "--daemon") }()
	defer func() {
		cancel()
		if r := <-done; r.code != 0 {
			t.Errorf("sync daemon exit %d: %s", r.code, r.err)
		}
	}()
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+push+"/sync/pub", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for post("") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if code := post("Bearer wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post("Bearer s3cret-push-token-0123"); code != http.StatusAccepted {
		t.Fatalf("push: %d", code)
	}
	for {
		body := ""
		if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if strings.Contains(body, `mirrorkit_sync_runs_total{job="pub",outcome="synced"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no synced run in the metrics:\n%.3000s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "mirror", "pub", "file")); err != nil || string(b) != "content" {
		t.Fatalf("pushed sync did not copy the file: %q %v", b, err)
	}
}
