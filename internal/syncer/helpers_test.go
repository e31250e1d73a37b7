package syncer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// upstream is a fake distribution served by a real rsync daemon.
type upstream struct {
	repo   *synctest.Repo
	daemon *rsyncd.Daemon
	url    string
}

func startUpstream(t testing.TB, cfg rsyncd.Config, modify func(*synctest.Repo)) *upstream {
	t.Helper()
	dir := t.TempDir()
	repo := synctest.NewRepo(dir)
	if os.Geteuid() == 0 {
		// The daemon serves as nobody: the 0750 directory must be theirs
		// to be visible at all.
		repo.StagedOwner = 65534
	}
	if modify != nil {
		modify(repo)
	}
	if err := repo.Write(1); err != nil {
		t.Fatal(err)
	}
	cfg.Modules = append(cfg.Modules, rsyncd.Module{Name: "dist", Path: dir})
	d := rsyncd.StartConfig(t, cfg)
	return &upstream{repo: repo, daemon: d, url: d.URL("dist")}
}

// testJob is a job syncing u into a fresh directory, without retries.
func testJob(t testing.TB, url string) syncer.Job {
	t.Helper()
	base := t.TempDir()
	return syncer.Job{
		Name:           "test",
		Upstream:       url,
		Dest:           filepath.Join(base, "mirror"),
		StateDir:       filepath.Join(base, "state"),
		Rsync:          testutil.RequireTool(t, "rsync"),
		UpstreamTrace:  "project/trace/master",
		InProgressFile: "Archive-Update-in-Progress-test",
		MaxDeleteShare: 0.5,
		Timeout:        30 * time.Second,
		ConnectTimeout: 5 * time.Second,
		Retry:          syncer.Retry{Attempts: 1},
	}
}

// testLogger sends the agent's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tlogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newSyncer(t testing.TB, job syncer.Job, o syncer.Options) *syncer.Syncer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.Version == "" {
		o.Version = "test-1.0"
	}
	s, err := syncer.New(job, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ownFiles are the agent's files in the tree (not the upstream's).
func ownFiles(job syncer.Job) func(rel string) bool {
	return func(rel string) bool {
		return rel == "project/trace/"+job.Name || rel == "project/trace/_hierarchy" || rel == job.InProgressFile
	}
}

// mirrorTree is a snapshot of the mirror without the agent's own files and
// rsync's temporary names.
func mirrorTree(t testing.TB, job syncer.Job) synctest.Tree {
	t.Helper()
	own := ownFiles(job)
	tr, err := synctest.Snapshot(job.Dest, func(rel string, d fs.DirEntry) bool {
		return own(rel) || synctest.RsyncTemp(rel, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// upstreamTree is what a mirror of u must look like: everything but the
// symlinks --safe-links skips.
func upstreamTree(t testing.TB, dir string) synctest.Tree {
	t.Helper()
	tr, err := synctest.Snapshot(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.SafeLinksOnly()
}

func requireEqualTrees(t testing.TB, upstreamDir string, job syncer.Job) {
	t.Helper()
	// The upstream's trace chain is replaced by the mirror's own.
	want := upstreamTree(t, upstreamDir).Without("project/trace/_hierarchy")
	if d := synctest.Diff(want, mirrorTree(t, job)); len(d) > 0 {
		t.Fatalf("mirror differs from upstream (%d differences):\n%s", len(d), strings.Join(first(d, 30), "\n"))
	}
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }

func mustRun(t testing.TB, s *syncer.Syncer, o syncer.RunOptions) syncer.Result {
	t.Helper()
	res, err := s.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v\nresult: %s", err, jsonString(res))
	}
	return res
}

func jsonString(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock advances on Sleep instead of waiting, and records the sleeps.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// countConnections counts the daemon's log lines that record a client
// session for the module (one per rsync run against it).
func countConnections(d *rsyncd.Daemon) int {
	return strings.Count(d.Log(), "rsync allowed access on module dist")
}

// countTransfers counts the daemon's log lines for a transfer of the whole
// module (a file list of the tree), as opposed to single-file fetches.
func countTransfers(d *rsyncd.Daemon) int {
	n := 0
	for _, l := range strings.Split(d.Log(), "\n") {
		if strings.Contains(l, "rsync on dist/ from") {
			n++
		}
	}
	return n
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rsyncWrapper returns an rsync that logs each invocation (its arguments,
// and whether RSYNC_PASSWORD was set) to the returned file, then execs the
// real one.
func rsyncWrapper(t testing.TB) (bin, logFile string) {
	t.Helper()
	real := testutil.RequireTool(t, "rsync")
	dir := t.TempDir()
	logFile = filepath.Join(dir, "invocations.log")
	bin = filepath.Join(dir, "rsync")
	script := fmt.Sprintf("#!/bin/sh\nif [ -n \"$RSYNC_PASSWORD\" ]; then pw=set; else pw=unset; fi\necho \"password=$pw $*\" >> %q\nexec %q \"$@\"\n", logFile, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, logFile
}

// invocations returns the wrapper's log lines.
func invocations(t testing.TB, logFile string) []string {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if os.IsNotExist(err) || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(bytes.TrimSpace(b))), "\n")
}
