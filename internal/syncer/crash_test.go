package syncer_test

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// Crash test knobs: MIRRORKIT_CRASH_ITERATIONS and MIRRORKIT_CRASH_BUDGET
// (a duration) scale it up for long runs; MIRRORKIT_CRASH_SEED replays one.
const (
	defaultCrashIterations = 20
	defaultCrashBudget     = 30 * time.Second
)

// TestCrash kills the agent (SIGKILL, a process of its own) at random points
// of stage 1 and stage 2, while a poller checks the served tree without
// pause: no partially written file and no index ahead of what it references
// may ever be visible. After each kill the next run must clean up (the
// rsync the dead agent left running, rsync's .~tmp~ directories, the
// in-progress file) and leave a tree identical to the upstream, hard links
// and modes included. The upstream moves to a new version every iteration.
func TestCrash(t *testing.T) {
	iterations := envInt(t, "MIRRORKIT_CRASH_ITERATIONS", defaultCrashIterations)
	budget := defaultCrashBudget
	if v := os.Getenv("MIRRORKIT_CRASH_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		budget = d
	}
	seed := uint64(envInt(t, "MIRRORKIT_CRASH_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (MIRRORKIT_CRASH_SEED=%d replays it), up to %d iterations in %v", seed, seed, iterations, budget)
	rng := rand.New(rand.NewPCG(seed, 7))

	// A slow upstream, so that a kill can land anywhere in a stage.
	u := startUpstream(t, rsyncd.Config{BWLimit: 2048}, func(r *synctest.Repo) {
		r.PerVersion, r.Keep, r.Size = 8, 40, 24<<10
	})
	job := testJob(t, u.url)
	s := newSyncer(t, job, syncer.Options{})

	var known atomic.Pointer[map[string]map[string]bool]
	setKnown := func() {
		k := map[string]map[string]bool{}
		for p, v := range u.repo.Known() {
			k[p] = maps.Clone(v)
		}
		known.Store(&k)
	}
	setKnown()

	// The poller: checks the tree continuously from the first kill run to
	// the end of the test.
	var (
		violationsMu sync.Mutex
		violations   []string
	)
	violationCount := func() int {
		violationsMu.Lock()
		defer violationsMu.Unlock()
		return len(violations)
	}
	var polls atomic.Int64
	stop := make(chan struct{})
	var pollerDone sync.WaitGroup
	pollerDone.Add(1)
	go func() {
		defer pollerDone.Done()
		c := &synctest.Checker{Root: job.Dest, Skip: ownFiles(job)}
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Known = *known.Load()
			if err := c.Check(); err != nil {
				violationsMu.Lock()
				violations = append(violations, err.Error())
				n := len(violations)
				violationsMu.Unlock()
				if n > 20 {
					return
				}
			}
			polls.Add(1)
		}
	}()
	var stopOnce sync.Once
	stopPoller := func() {
		stopOnce.Do(func() { close(stop) })
		pollerDone.Wait()
	}
	defer stopPoller()

	start := time.Now()
	var killedIn [3]int
	version := 1
	i := 0
	// At least four iterations (two kills per stage), then as many as the
	// budget allows.
	for ; i < iterations && (i < 4 || time.Since(start) < budget); i++ {
		if i > 0 {
			version++
			if err := u.repo.Write(version); err != nil {
				t.Fatal(err)
			}
			setKnown()
		}
		// Kill the agent in stage 1 and stage 2 in turn, after a random
		// number of items and a random delay.
		stage := 1 + i%2
		after := rng.IntN(12)
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		c := startChild(t, childSpec{Job: job, Opts: childRunOptions{Trigger: "crash-test"}})
		seen, killed := 0, false
		for l := range c.lines {
			f := strings.SplitN(l, " ", 4)
			if killed || f[0] != "item" || f[1] != strconv.Itoa(stage) {
				continue
			}
			if seen++; seen > after {
				time.Sleep(delay)
				_ = c.cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		code := c.wait()
		if killed && code == -1 {
			killedIn[stage]++
		} else {
			killedIn[0]++ // finished before the chosen point
		}
		st, err := s.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Running {
			t.Fatalf("iteration %d: the lock outlived the killed agent", i)
		}

		// The next run cleans up and completes.
		res, err := s.Run(context.Background(), syncer.RunOptions{Trigger: "after-crash"})
		if err != nil {
			t.Fatalf("iteration %d (killed in stage %d after %d items: %v): the run after the crash failed: %v\n%s",
				i, stage, after, killed, err, c.stderr)
		}
		if killed && res.Outcome != syncer.OutcomeSynced {
			t.Fatalf("iteration %d: after a crash the run must sync, got %s", i, res.Outcome)
		}
		requireEqualTrees(t, u.repo.Dir, job)
		if _, err := os.Stat(filepath.Join(job.Dest, job.InProgressFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("iteration %d: in-progress file left behind (%v)", i, err)
		}
		if n := countDelayDirs(t, job.Dest); n > 0 {
			t.Fatalf("iteration %d: %d .~tmp~ directories left behind", i, n)
		}
		if violationCount() > 0 {
			break
		}
	}
	stopPoller()
	t.Logf("%d iterations in %v: killed in stage 1: %d, stage 2: %d, finished first: %d; %d polls of the tree",
		i, time.Since(start).Round(time.Millisecond), killedIn[1], killedIn[2], killedIn[0], polls.Load())
	if len(violations) > 0 {
		t.Fatalf("the served tree broke the invariant (seed %d):\n%s", seed, strings.Join(first(violations, 10), "\n"))
	}
	if polls.Load() < int64(i) {
		t.Fatalf("only %d polls in %d iterations: the poller did not run", polls.Load(), i)
	}
	if killedIn[1] == 0 || killedIn[2] == 0 {
		t.Errorf("no kill landed in stage 1 (%d) or stage 2 (%d): the test did not test", killedIn[1], killedIn[2])
	}
}

func countDelayDirs(t testing.TB, root string) int {
	n := 0
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".~tmp~" {
			n++
		}
		return nil
	})
	return n
}

func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// The poller is sensitive: one plain rsync run (no stages) over the same
// fake repository exposes indexes ahead of their files, and the poller
// sees it. Without this, a crash test that finds nothing would prove
// nothing.
func TestPollerCatchesOnePassRsync(t *testing.T) {
	u := startUpstream(t, rsyncd.Config{BWLimit: 2048}, func(r *synctest.Repo) {
		r.PerVersion, r.Keep, r.Size = 8, 40, 24<<10
	})
	job := testJob(t, u.url)
	var known atomic.Pointer[map[string]map[string]bool]
	setKnown := func() {
		k := map[string]map[string]bool{}
		for p, v := range u.repo.Known() {
			k[p] = maps.Clone(v)
		}
		known.Store(&k)
	}
	setKnown()
	var stop atomic.Bool
	var found atomic.Pointer[string]
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &synctest.Checker{Root: job.Dest}
		for !stop.Load() && found.Load() == nil {
			c.Known = *known.Load()
			if err := c.Check(); err != nil {
				msg := err.Error()
				found.Store(&msg)
			}
		}
	}()
	// The window is the rename sweep at the end of each run: under -race
	// on a busy machine the poller can miss a dozen of them. It stops at
	// the first catch, so the bound only costs time when something broke.
	for v := 1; v <= 40 && found.Load() == nil; v++ {
		if v > 1 {
			if err := u.repo.Write(v); err != nil {
				t.Fatal(err)
			}
			setKnown()
		}
		out, err := exec.Command(job.Rsync, "-rlptH", "--safe-links", "--delete-after", "--delay-updates", u.url, job.Dest+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	stop.Store(true)
	<-done
	if found.Load() == nil {
		t.Fatal("a one-pass rsync never exposed an index ahead of its files to the poller")
	}
	t.Logf("one-pass rsync, as expected: %s", first(strings.Split(*found.Load(), "\n"), 1)[0])
}
