package syncer_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/rsync"
	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// The trace file and the trace chain, and the status a run leaves.
func TestTraceAndStatus(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	job.TraceName = "mirror.example.org"
	clock := newFakeClock()
	s := newSyncer(t, job, syncer.Options{Clock: clock, Version: "1.2.3", Hostname: "host1"})
	res := mustRun(t, s, syncer.RunOptions{Trigger: "cron"})

	tr, err := syncer.ParseTrace(readFile(t, filepath.Join(job.Dest, "project/trace/mirror.example.org")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Creator":                       "mirrorkit 1.2.3",
		"Running on host":               "host1",
		"Mirror-Name":                   "mirror.example.org",
		"Upstream-mirror":               "127.0.0.1",
		"Upstream-URL":                  u.url,
		"Trigger":                       "cron",
		"Total bytes received in rsync": itoa64(res.BytesReceived),
		"Upstream-Trace":                "\n" + strings.TrimRight(string(readFile(t, filepath.Join(u.repo.Dir, "project/trace/master"))), "\n"),
	}
	for k, v := range want {
		if got := tr.Get(k); got != v {
			t.Errorf("trace %s = %q, want %q", k, got, v)
		}
	}
	if !tr.Date.Equal(clock.Now().Truncate(time.Second)) {
		t.Errorf("trace date %v, want %v", tr.Date, clock.Now())
	}
	for _, k := range []string{"Total time spent in stage1 rsync", "Total time spent in stage2 rsync", "Date-Started"} {
		if tr.Get(k) == "" {
			t.Errorf("trace has no %s", k)
		}
	}
	chain := string(readFile(t, filepath.Join(job.Dest, "project/trace/_hierarchy")))
	if chain != "master master origin.example.org origin\nmirror.example.org mirror.example.org host1 127.0.0.1\n" {
		t.Errorf("trace chain:\n%s", chain)
	}

	st, err := syncer.ReadStatus(job.StateDir, job.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.RerunQueued || st.Unclean || st.Last == nil || st.Last.Outcome != syncer.OutcomeSynced ||
		st.LastSynced == nil || !strings.Contains(st.UpstreamTrace, "Version: 1") {
		t.Fatalf("status after a sync: %s", jsonString(st))
	}
	if st.Last.Added != res.Added || len(st.Last.Stages) != 2 {
		t.Errorf("status does not hold the result: %s", jsonString(st.Last))
	}
}

// An unchanged upstream trace ends the run after one small fetch: no
// listing of the tree. Force, a new configuration or a missing own trace
// sync anyway.
func TestSkipWhenUnchanged(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	bin, log := rsyncWrapper(t)
	job.Rsync = bin
	s := newSyncer(t, job, syncer.Options{})
	mustRun(t, s, syncer.RunOptions{})
	before := len(invocations(t, log))
	conns := countConnections(u.daemon)

	start := time.Now()
	res := mustRun(t, s, syncer.RunOptions{})
	elapsed := time.Since(start)
	if res.Outcome != syncer.OutcomeUnchanged {
		t.Fatalf("outcome %s, want unchanged", res.Outcome)
	}
	// One listing of the trace file: no content, no file list of the tree.
	listsOnlyTrace := func(calls []string) bool {
		return len(calls) == 1 && !strings.Contains(calls[0], " -r") && strings.Contains(calls[0], "--list-only") &&
			strings.HasSuffix(strings.TrimSpace(calls[0]), "project/trace/master")
	}
	calls := invocations(t, log)[before:]
	if !listsOnlyTrace(calls) {
		t.Fatalf("an unchanged run ran rsync as:\n%s", strings.Join(calls, "\n"))
	}
	if n := countConnections(u.daemon) - conns; n != 1 {
		t.Fatalf("an unchanged run opened %d daemon sessions, want 1", n)
	}
	t.Logf("unchanged run: %v (one rsync listing of the trace)", elapsed)

	// The upstream touches its trace without changing it: the listing
	// differs, the content does not. No sync; the new listing is kept, so
	// the run after that is one listing again.
	master := filepath.Join(u.repo.Dir, "project/trace/master")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(master, later, later); err != nil {
		t.Fatal(err)
	}
	before = len(invocations(t, log))
	if res := mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeUnchanged || res.UpstreamTrace == "" {
		t.Fatalf("touched trace: %s %q", res.Outcome, res.UpstreamTrace)
	}
	if calls := invocations(t, log)[before:]; len(calls) != 2 {
		t.Fatalf("a touched trace: want a listing and a fetch, got\n%s", strings.Join(calls, "\n"))
	}
	before = len(invocations(t, log))
	if res := mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeUnchanged || res.UpstreamTrace == "" {
		t.Fatalf("after the touch: %s %q", res.Outcome, res.UpstreamTrace)
	}
	if calls := invocations(t, log)[before:]; !listsOnlyTrace(calls) {
		t.Fatalf("after the touch, an unchanged run ran rsync as:\n%s", strings.Join(calls, "\n"))
	}

	// Force.
	res = mustRun(t, s, syncer.RunOptions{Force: true})
	if res.Outcome != syncer.OutcomeSynced {
		t.Fatalf("forced: %s", res.Outcome)
	}
	// A changed upstream.
	if err := u.repo.Write(2); err != nil {
		t.Fatal(err)
	}
	if res = mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeSynced {
		t.Fatalf("new upstream version: %s", res.Outcome)
	}
	requireEqualTrees(t, u.repo.Dir, job)
	if res = mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeUnchanged {
		t.Fatalf("again: %s", res.Outcome)
	}
	// The mirror's own trace gone (someone wiped the tree): sync.
	if err := os.Remove(filepath.Join(job.Dest, "project/trace/test")); err != nil {
		t.Fatal(err)
	}
	if res = mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeSynced {
		t.Fatalf("own trace missing: %s", res.Outcome)
	}
	// A new configuration: sync.
	job.Exclude = []string{"*.iso"}
	s2 := newSyncer(t, job, syncer.Options{})
	if res = mustRun(t, s2, syncer.RunOptions{}); res.Outcome != syncer.OutcomeSynced {
		t.Fatalf("changed configuration: %s", res.Outcome)
	}
	if res = mustRun(t, s2, syncer.RunOptions{}); res.Outcome != syncer.OutcomeUnchanged {
		t.Fatalf("changed configuration, second run: %s", res.Outcome)
	}
}

// An upstream trace served over HTTP.
func TestUpstreamTraceOverHTTP(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	srv := httptest.NewServer(http.FileServer(http.Dir(u.repo.Dir)))
	defer srv.Close()
	job := testJob(t, u.url)
	job.UpstreamTrace = srv.URL + "/project/trace/master"
	s := newSyncer(t, job, syncer.Options{})
	if res := mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeSynced {
		t.Fatal(res.Outcome)
	}
	start := time.Now()
	if res := mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeUnchanged {
		t.Fatal(res.Outcome)
	}
	t.Logf("unchanged run with an HTTP trace: %v", time.Since(start))
	// A missing trace is a warning, not a failure: the run syncs.
	job.UpstreamTrace = srv.URL + "/nope"
	s = newSyncer(t, job, syncer.Options{})
	if res := mustRun(t, s, syncer.RunOptions{}); res.Outcome != syncer.OutcomeSynced {
		t.Fatal(res.Outcome)
	}
}

// An upstream that suddenly looks empty must not wipe the mirror.
func TestMaxDeleteGuard(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	job.MaxDeleteShare = 0 // the default, 10%
	s := newSyncer(t, job, syncer.Options{})
	mustRun(t, s, syncer.RunOptions{})
	before := mirrorTree(t, job)

	// Empty the upstream, but for a new trace.
	entries, err := os.ReadDir(u.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(u.repo.Dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(u.repo.Dir, "project/trace"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.repo.Dir, "project/trace/master"), []byte("emptied\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := s.Run(context.Background(), syncer.RunOptions{})
	if !errors.Is(err, syncer.ErrRefused) || res.Outcome != syncer.OutcomeRefused || res.Outcome.ExitCode() != 6 {
		t.Fatalf("emptied upstream: outcome %s, error %v", res.Outcome, err)
	}
	var re *syncer.RefusedError
	if !errors.As(err, &re) || re.Pending < 20 || re.Pending > int(re.Tree) {
		t.Fatalf("refusal details: %+v", re)
	}
	if !strings.Contains(err.Error(), "refusing to delete") || !strings.Contains(err.Error(), job.Dest) {
		t.Errorf("unclear error: %v", err)
	}
	if res.Deleted != 0 || len(res.Stages) != 1 {
		t.Errorf("a refused run went on: %s", jsonString(res))
	}
	if d := synctest.Diff(before, mirrorTree(t, job)); len(d) > 0 {
		t.Fatalf("a refused run changed the tree:\n%s", strings.Join(first(d, 20), "\n"))
	}
	st, _ := s.Status()
	if st.Last.Outcome != syncer.OutcomeRefused || st.LastSynced == nil || !st.Unclean {
		t.Errorf("status after a refusal: %s", jsonString(st))
	}

	// The operator allows it for one run.
	res = mustRun(t, s, syncer.RunOptions{MaxDeleteShare: 1})
	if res.Outcome != syncer.OutcomeSynced || res.Deleted < 20 {
		t.Fatalf("allowed run: %s", jsonString(res))
	}
	requireEqualTrees(t, u.repo.Dir, job)
}

// A dry run reports and changes nothing, neither the tree nor the state.
func TestDryRun(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	s := newSyncer(t, job, syncer.Options{})
	mustRun(t, s, syncer.RunOptions{})
	st0, _ := s.Status()
	before := mirrorTree(t, job)
	if err := u.repo.Write(2); err != nil {
		t.Fatal(err)
	}
	var items []string
	res := mustRun(t, s, syncer.RunOptions{DryRun: true, OnItem: func(_ int, it syncer.Item) { items = append(items, it.Itemize+" "+it.Name) }})
	if res.Outcome != syncer.OutcomeDryRun || res.Added == 0 || res.Deleted == 0 {
		t.Fatalf("dry run: %s", jsonString(res))
	}
	if d := synctest.Diff(before, mirrorTree(t, job)); len(d) > 0 {
		t.Fatalf("a dry run changed the tree:\n%s", strings.Join(first(d, 20), "\n"))
	}
	if !slices.ContainsFunc(items, func(s string) bool { return strings.HasPrefix(s, "*deleting") }) {
		t.Errorf("no deletion reported: %v", items)
	}
	st1, _ := s.Status()
	if jsonString(st0) != jsonString(st1) {
		t.Errorf("a dry run changed the status:\n%s\n%s", jsonString(st0), jsonString(st1))
	}
}

// Transient failures are retried with backoff; permanent ones are not.
func TestRetries(t *testing.T) {
	rsyncBin := testutil.RequireTool(t, "rsync")
	dead := "rsync://" + testutil.ClosedAddr(t) + "/dist/"
	job := testJob(t, dead)
	job.Rsync = rsyncBin
	job.Retry = syncer.Retry{Attempts: 3, Initial: time.Minute, Max: 90 * time.Second}
	clock := newFakeClock()
	s := newSyncer(t, job, syncer.Options{Clock: clock})
	res, err := s.Run(context.Background(), syncer.RunOptions{})
	if err == nil || res.Outcome != syncer.OutcomeFailed || res.Attempts != 3 || res.RsyncExit != rsync.ExitSocketIO {
		t.Fatalf("dead upstream: %v\n%s", err, jsonString(res))
	}
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{time.Minute, 90 * time.Second}) {
		t.Errorf("backoffs %v, want [1m 1m30s]", got)
	}
	if !strings.Contains(err.Error(), "exit code 10") || !strings.Contains(res.RsyncError, "Connection refused") {
		t.Errorf("the error lacks rsync's code or words: %v / %q", err, res.RsyncError)
	}

	// A module that does not exist: permanent, one attempt.
	u := startUpstream(t, rsyncd.Config{}, nil)
	job2 := testJob(t, strings.Replace(u.url, "/dist/", "/nope/", 1))
	job2.Retry = syncer.Retry{Attempts: 3}
	clock2 := newFakeClock()
	s2 := newSyncer(t, job2, syncer.Options{Clock: clock2})
	res, err = s2.Run(context.Background(), syncer.RunOptions{})
	if err == nil || res.Attempts != 1 || len(clock2.Sleeps()) != 0 || res.RsyncExit != rsync.ExitStartClient {
		t.Fatalf("unknown module: %v\n%s", err, jsonString(res))
	}

	// A cancelled context stops the backoff.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = s.Run(ctx, syncer.RunOptions{})
	if res.Outcome != syncer.OutcomeCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v %s", err, res.Outcome)
	}
}

// A module with a login: the password comes from a private file and
// reaches rsync through its environment only.
func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	repo := synctest.NewRepo(dir)
	if os.Geteuid() == 0 {
		repo.StagedOwner = 65534
	}
	if err := repo.Write(1); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-pass"
	d := rsyncd.Start(t, rsyncd.Module{Name: "dist", Path: dir, AuthUser: "mirror", Password: secret})
	url := strings.Replace(d.URL("dist"), "rsync://", "rsync://mirror@", 1)
	job := testJob(t, url)
	bin, log := rsyncWrapper(t)
	job.Rsync = bin
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job.PasswordFile = pw
	err := job.Validate()
	var ve *syncer.ValidationError
	if !errors.As(err, &ve) || ve.Fields[0].Field != "password_file" || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable password file: %v", err)
	}
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, job, syncer.Options{})
	mustRun(t, s, syncer.RunOptions{})
	requireEqualTrees(t, dir, job)
	calls := invocations(t, log)
	for _, c := range calls {
		if strings.Contains(c, secret) {
			t.Fatalf("the password is on rsync's command line: %s", c)
		}
		if !strings.HasPrefix(c, "password=set ") {
			t.Fatalf("rsync ran without RSYNC_PASSWORD: %s", c)
		}
	}

	if err := os.WriteFile(pw, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	job.Retry = syncer.Retry{Attempts: 3}
	clock := newFakeClock()
	res, err := newSyncer(t, job, syncer.Options{Clock: clock}).Run(context.Background(), syncer.RunOptions{Force: true})
	if err == nil || res.Attempts != 1 || !strings.Contains(res.RsyncError, "auth failed") {
		t.Fatalf("wrong password: %v\n%s", err, jsonString(res))
	}
}

// A partial mirror copies its subtrees and deletes nothing outside them.
func TestSubtrees(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	job.Subtrees = []string{"fedora/", "misc/docs"}
	if err := os.MkdirAll(filepath.Join(job.Dest, "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(job.Dest, "local/keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, job, syncer.Options{})
	for v := 1; v <= 2; v++ {
		if err := u.repo.Write(v); err != nil {
			t.Fatal(err)
		}
		mustRun(t, s, syncer.RunOptions{})
		got := mirrorTree(t, job)
		up := upstreamTree(t, u.repo.Dir)
		for p, e := range up {
			in := strings.HasPrefix(p, "fedora/") || strings.HasPrefix(p, "misc/docs/")
			if _, ok := got[p]; in && !ok {
				t.Errorf("version %d: %s missing", v, p)
			} else if !in && ok && e.Type != 'd' {
				t.Errorf("version %d: %s copied from outside the subtrees", v, p)
			}
		}
		if _, ok := got["local/keep"]; !ok {
			t.Fatalf("version %d: a file outside the subtrees was deleted", v)
		}
	}
}

// The hook runs after a sync with the run in its environment.
func TestHook(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{}, nil)
	job := testJob(t, u.url)
	out := filepath.Join(t.TempDir(), "hook.out")
	job.Hook = []string{"/bin/sh", "-c", `env | grep ^MIRRORKIT_ | sort > "$0"`, out}
	s := newSyncer(t, job, syncer.Options{})
	res := mustRun(t, s, syncer.RunOptions{})
	env := string(readFile(t, out))
	for _, want := range []string{"MIRRORKIT_JOB=test", "MIRRORKIT_OUTCOME=synced", "MIRRORKIT_DEST=" + job.Dest,
		"MIRRORKIT_ADDED=" + itoa64(int64(res.Added))} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	job.Hook = []string{"/bin/sh", "-c", "echo broken >&2; exit 3"}
	res = mustRun(t, newSyncer(t, job, syncer.Options{}), syncer.RunOptions{Force: true})
	if res.Outcome != syncer.OutcomeSynced || !strings.Contains(res.HookError, "broken") {
		t.Fatalf("failing hook: %s", jsonString(res))
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
