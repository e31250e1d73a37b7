package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

func TestHysteresis(t *testing.T) {
	var changes []Health
	tr := &Tracker{DownAfter: 3, UpAfter: 2, Keep: 4}
	tr.OnChange(func(prev, cur Health) {
		if prev.Up == cur.Up && prev.Failing == cur.Failing {
			t.Errorf("change notified without a change: %+v", cur)
		}
		changes = append(changes, cur)
	})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tg := Target{MirrorID: 1, Protocol: registry.HTTPS, Family: IPv4}
	if h := tr.Health(tg.Key()); h.Known {
		t.Fatal("known before any probe")
	}
	steps := []struct {
		ok     bool
		wantUp bool
	}{
		{true, true},   // first success: up
		{false, true},  // one failure is not an outage
		{false, true},  // nor two
		{false, false}, // three: down
		{true, false},  // one success is not a recovery
		{false, false}, // and a failure resets the streak
		{true, false},
		{true, true}, // two in a row: up
	}
	for i, s := range steps {
		r := Result{Target: tg, At: t0.Add(time.Duration(i) * time.Minute), OK: s.ok}
		if !s.ok {
			r.Reason = fmt.Sprintf("failure %d", i)
		}
		h := tr.Record(r)
		if h.Up != s.wantUp || !h.Known {
			t.Fatalf("step %d (ok=%v): up=%v, want %v", i, s.ok, h.Up, s.wantUp)
		}
		if !s.ok && h.Reason != r.Reason || s.ok && h.Reason != "" || h.Failing == s.ok {
			t.Fatalf("step %d: reason %q, failing %v", i, h.Reason, h.Failing)
		}
	}
	// Every flip of up or of failing is told, and nothing else: failing at
	// the first failure, down at the third, and so on.
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("up=%v failing=%v", c.Up, c.Failing))
	}
	want := []string{"up=true failing=true", "up=false failing=true", "up=false failing=false",
		"up=false failing=true", "up=false failing=false", "up=true failing=false"}
	if !slices.Equal(got, want) {
		t.Fatalf("changes\n got %q\nwant %q", got, want)
	}
	if !changes[1].Since.Equal(t0.Add(3*time.Minute)) || !changes[5].Since.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("since: down %v, up %v", changes[1].Since, changes[5].Since)
	}
	// The history keeps the last Keep results, oldest first.
	hist := tr.History(tg.Key())
	if len(hist) != 4 || !hist[0].At.Equal(t0.Add(4*time.Minute)) || !hist[3].At.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("history %+v", hist)
	}
	// A new target that never answers goes down after DownAfter failures.
	other := Target{MirrorID: 2, Protocol: registry.RSYNC, Family: IPv6}
	for i := 0; i < 3; i++ {
		h := tr.Record(Result{Target: other, At: t0, Reason: "connection refused"})
		if h.Up != (i < 2) {
			t.Fatalf("new failing target after %d failures: up=%v", i+1, h.Up)
		}
	}
	if hs := tr.Mirror(2); len(hs) != 1 || hs[0].Up {
		t.Fatalf("Mirror(2) = %+v", hs)
	}
	tr.Forget(2)
	if hs := tr.Mirror(2); len(hs) != 0 {
		t.Fatal("Forget kept the mirror")
	}
}

// Round bounds concurrency, never probes one mirror twice at once, and
// records every result.
func TestRoundBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	var mu sync.Mutex
	perMirror := map[string]int{}
	perMirrorPeak := 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := strings.Split(r.URL.Path, "/")[1]
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		perMirror[m]++
		perMirrorPeak = max(perMirrorPeak, perMirror[m])
		mu.Unlock()
		<-release
		mu.Lock()
		perMirror[m]--
		mu.Unlock()
		inFlight.Add(-1)
	}))
	defer srv.Close()
	// Two targets per mirror (the "https" one is served over plain http
	// by the test server); the mirror's id is the first path segment.
	var targets []Target
	for m := 1; m <= 12; m++ {
		for _, proto := range []registry.Protocol{registry.HTTP, registry.HTTPS} {
			targets = append(targets, Target{MirrorID: int64(m), Protocol: proto, Family: IPv4,
				URL: fmt.Sprintf("%s/m%d/", srv.URL, m), Path: "/TIME"})
		}
	}
	tr := &Tracker{}
	done := make(chan []Result)
	rn := &Runner{Prober: &Prober{Timeout: 10 * time.Second}, Tracker: tr, Concurrency: 4}
	go func() { done <- rn.Round(context.Background(), targets) }()
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	results := <-done
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak concurrency %d, want 4", p)
	}
	if perMirrorPeak != 1 {
		t.Fatalf("a mirror saw %d probes at once", perMirrorPeak)
	}
	for i, r := range results {
		if !r.OK || r.MirrorID != targets[i].MirrorID {
			t.Fatalf("result %d: %+v", i, r)
		}
		if h := tr.Health(targets[i].Key()); !h.Known || !h.Up {
			t.Fatalf("tracker for %+v: %+v", targets[i].Key(), h)
		}
	}
}

// A dead mirror is down within one round: failing probes are retried until
// the hysteresis decides, a live one costs one probe.
func TestRoundRetriesFailures(t *testing.T) {
	var hits atomic.Int32
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer live.Close()
	tr := &Tracker{DownAfter: 3, UpAfter: 2}
	rn := &Runner{Prober: &Prober{Timeout: 2 * time.Second}, Tracker: tr, Retry: time.Millisecond}
	dead := Target{MirrorID: 1, Protocol: registry.HTTP, Family: IPv4, URL: "http://" + testutil.ClosedAddr(t) + "/", Path: "/TIME"}
	ok := Target{MirrorID: 2, Protocol: registry.HTTP, Family: IPv4, URL: live.URL + "/", Path: "/TIME"}
	res := rn.Round(context.Background(), []Target{dead, ok})
	if h := tr.Health(dead.Key()); h.Up || h.Streak != 3 || h.Reason != "connection refused" {
		t.Fatalf("dead mirror after one round: %+v", h)
	}
	if res[0].OK || !res[1].OK || hits.Load() != 1 {
		t.Fatalf("results %+v, live hits %d", res, hits.Load())
	}
	// Once down, a failure is not retried: the next round probes it once.
	res = rn.Round(context.Background(), []Target{dead})
	if h := tr.Health(dead.Key()); h.Streak != 4 {
		t.Fatalf("a down target was retried: streak %d", h.Streak)
	}
}
