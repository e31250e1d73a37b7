package syncer_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// slowUpstream serves a first version that takes about a second to copy.
func slowUpstream(t testing.TB) *upstream {
	return startUpstream(t, rsyncd.Config{BWLimit: 400}, func(r *synctest.Repo) {
		r.PerVersion, r.Size = 8, 24<<10
	})
}

// traceFetches counts the runs that reached the unchanged check.
func traceFetches(t testing.TB, log string) int {
	n := 0
	for _, c := range invocations(t, log) {
		if strings.Contains(c, "--list-only") && strings.HasSuffix(strings.TrimSpace(c), "project/trace/master") {
			n++
		}
	}
	return n
}

// Requests made while a run is in progress (from goroutines and from other
// Syncers of the same job) are queued, not lost, and give exactly one
// more run.
func TestLockAndRerunInProcess(t *testing.T) {
	u := slowUpstream(t)
	job := testJob(t, u.url)
	bin, log := rsyncWrapper(t)
	job.Rsync = bin
	s := newSyncer(t, job, syncer.Options{})
	other := newSyncer(t, job, syncer.Options{})

	h, err := s.Start(context.Background(), syncer.RunOptions{Trigger: "first"})
	if err != nil || h.Queued() {
		t.Fatalf("first start: %v queued=%v", err, h != nil && h.Queued())
	}
	waitFor(t, "the run to hold the lock", 10*time.Second, func() bool {
		st, err := s.Status()
		return err == nil && st.Running
	})
	var wg sync.WaitGroup
	results := make([]syncer.Result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sy := s
			if i%2 == 1 {
				sy = other
			}
			res, err := sy.Run(context.Background(), syncer.RunOptions{Trigger: "second"})
			if err != nil {
				t.Errorf("queued request: %v", err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Outcome != syncer.OutcomeQueued {
			t.Fatalf("request %d during a run: %s, want queued", i, r.Outcome)
		}
	}
	st, _ := s.Status()
	if !st.Running || !st.RerunQueued {
		t.Fatalf("status during the run: %s", jsonString(st))
	}
	res, err := h.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Reruns != 1 || res.Outcome != syncer.OutcomeUnchanged {
		t.Fatalf("the first run should have run exactly once more (unchanged): %s", jsonString(res))
	}
	if n := traceFetches(t, log); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
	st, _ = s.Status()
	if st.Running || st.RerunQueued {
		t.Fatalf("status after: %s", jsonString(st))
	}
	requireEqualTrees(t, u.repo.Dir, job)
}

// The same across processes: a request from this process while another
// process syncs is queued, and the other process runs once more.
func TestLockAndRerunAcrossProcesses(t *testing.T) {
	u := slowUpstream(t)
	job := testJob(t, u.url)
	bin, log := rsyncWrapper(t)
	job.Rsync = bin
	s := newSyncer(t, job, syncer.Options{})

	c := startChild(t, childSpec{Job: job, Opts: childRunOptions{Trigger: "child"}})
	go func() {
		for range c.lines {
		}
	}()
	waitFor(t, "the child to hold the lock", 10*time.Second, func() bool {
		st, err := s.Status()
		return err == nil && st.Running
	})
	res, err := s.Run(context.Background(), syncer.RunOptions{Trigger: "parent"})
	if err != nil || res.Outcome != syncer.OutcomeQueued {
		t.Fatalf("request while another process runs: %s %v", res.Outcome, err)
	}
	if code := c.wait(); code != 0 {
		t.Fatalf("child exited %d:\n%s", code, c.stderr)
	}
	if c.result == nil || c.result.Reruns != 1 {
		t.Fatalf("the child should have run exactly once more: %s", jsonString(c.result))
	}
	if n := traceFetches(t, log); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
	requireEqualTrees(t, u.repo.Dir, job)
}

// The push endpoint: authentication, methods, unknown jobs, and started
// then queued while the run goes on.
func TestPushHandler(t *testing.T) {
	u := slowUpstream(t)
	job := testJob(t, u.url)
	s := newSyncer(t, job, syncer.Options{})
	agent := syncer.NewAgent(syncer.AgentOptions{Logger: testLogger(t)})
	if err := agent.Add(s, nil); err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-token"
	h, err := syncer.NewPushHandler(agent, token, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := syncer.NewPushHandler(agent, "short", nil); err == nil {
		t.Fatal("a short token was accepted")
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- agent.Serve(ctx) }()
	waitFor(t, "the agent to serve", 5*time.Second, func() bool {
		_, err := agent.Trigger("nope", syncer.RunOptions{})
		return err != nil && !strings.Contains(err.Error(), "not serving")
	})

	do := func(method, path, auth string) (int, map[string]string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON", method, path, b)
		}
		return resp.StatusCode, body
	}
	bearer := "Bearer " + token
	for _, c := range []struct {
		method, path, auth string
		code               int
		inBody             string
	}{
		{"POST", "/sync/test", "", 401, "bearer token"},
		{"POST", "/sync/test", "Bearer wrong-token-0123456789", 401, "bearer token"},
		{"POST", "/sync/test", "Basic " + token, 401, "bearer token"},
		{"GET", "/sync/test", bearer, 405, "use POST"},
		{"POST", "/sync/nope", bearer, 404, "unknown job nope"},
		{"POST", "/other", bearer, 404, "POST /sync/JOB"},
		{"POST", "/sync/test", bearer, 202, "started"},
		{"POST", "/sync/test", bearer, 202, "queued"},
		{"POST", "/sync/test", bearer, 202, "queued"},
	} {
		code, body := do(c.method, c.path, c.auth)
		if code != c.code || !strings.Contains(body["error"]+body["state"], c.inBody) {
			t.Errorf("%s %s (%q): %d %v, want %d with %q", c.method, c.path, c.auth, code, body, c.code, c.inBody)
		}
	}
	waitFor(t, "the pushed runs to finish", 30*time.Second, func() bool {
		st, err := s.Status()
		return err == nil && !st.Running && st.Last != nil && st.Last.Trigger == "rerun"
	})
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	st, _ := s.Status()
	if st.Last.Outcome != syncer.OutcomeUnchanged || st.LastSynced.Trigger != "push" || st.RerunQueued {
		t.Fatalf("after the pushes: %s", jsonString(st))
	}
	if _, err := agent.Trigger("test", syncer.RunOptions{}); err == nil {
		t.Fatal("a trigger after Serve ended was accepted")
	}
}

// The schedule: slots Every apart, each delayed by jitter from the seeded
// source, and no burst after an overrun.
func TestScheduleLoop(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	sc := syncer.Schedule{Every: 4 * time.Hour, Jitter: 30 * time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	var starts []time.Time
	err := sc.Loop(ctx, clock, rand.NewPCG(1, 2), func(context.Context) {
		starts = append(starts, clock.Now())
		if len(starts) == 3 {
			clock.Advance(9 * time.Hour) // an overrun past two slots
		}
		if len(starts) == 6 {
			cancel()
		}
	})
	if err != context.Canceled {
		t.Fatalf("Loop returned %v", err)
	}
	slots := []time.Duration{0, 4 * time.Hour, 8 * time.Hour, 0, 0, 0}
	jitters := map[time.Duration]bool{}
	for i, s := range starts {
		off := s.Sub(start)
		if i < 3 {
			j := off - slots[i]
			if j < 0 || j >= sc.Jitter {
				t.Errorf("run %d at +%v: jitter %v outside [0, 30m)", i, off, j)
			}
			jitters[j] = true
		}
		if i > 0 && s.Sub(starts[i-1]) < 0 {
			t.Errorf("run %d before run %d", i, i-1)
		}
	}
	// After the overrun (run 3 ended at about +17h), the next slot is
	// +20h: one run, not a burst for the missed ones.
	if off := starts[3].Sub(start); off < 20*time.Hour || off >= 20*time.Hour+sc.Jitter {
		t.Errorf("run after the overrun at +%v, want in [20h, 20h30m)", off)
	}
	if len(jitters) < 2 {
		t.Errorf("jitter does not vary: %v", jitters)
	}
	// The same seed gives the same schedule.
	clock2 := newFakeClock()
	var again []time.Time
	ctx2, cancel2 := context.WithCancel(context.Background())
	_ = sc.Loop(ctx2, clock2, rand.NewPCG(1, 2), func(context.Context) {
		again = append(again, clock2.Now())
		if len(again) == 2 {
			cancel2()
		}
	})
	if !again[0].Equal(starts[0]) || !again[1].Equal(starts[1]) {
		t.Errorf("seeded schedules differ: %v vs %v", again, starts[:2])
	}
	if err := (syncer.Schedule{Every: time.Hour, Jitter: 2 * time.Hour}).Validate(); err == nil {
		t.Error("jitter above every accepted")
	}
}
