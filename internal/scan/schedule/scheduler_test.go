package schedule

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// counting wraps a real scanner to observe how the scheduler drives it.
type counting struct {
	scan.Scanner
	mu    sync.Mutex
	now   int
	peak  int
	calls map[string]int
	hold  time.Duration
}

func (c *counting) Scan(ctx context.Context, t scan.Target, emit func(scan.Entry) error) error {
	c.mu.Lock()
	c.now++
	c.peak = max(c.peak, c.now)
	c.calls[t.URL]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	if c.hold > 0 {
		select {
		case <-time.After(c.hold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Scanner.Scan(ctx, t, emit)
}

func (c *counting) count(url string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[url]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) scheduler(c *counting, conc int, onResult func(Result, error)) func() {
	f.svc.Load(context.Background())
	f.svc.Scanners[registry.RSYNC] = c
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		Service: f.svc, Mirrors: f.st.Mirrors, Interval: 100 * time.Millisecond, Jitter: 20 * time.Millisecond,
		MaxBackoff: 800 * time.Millisecond, Concurrency: conc, Rand: rand.New(rand.NewPCG(1, 2)), Poll: 50 * time.Millisecond,
		OnResult: onResult,
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-errc; err != context.Canceled {
			f.t.Errorf("Run returned %v", err)
		}
	}
}

func TestSchedulerBoundsConcurrency(t *testing.T) {
	f := newFixture(t)
	c := &counting{Scanner: f.svc.Scanners[registry.RSYNC], calls: map[string]int{}, hold: 50 * time.Millisecond}
	var ids []int64
	for i := 0; i < 6; i++ {
		m := f.mirror(string(rune('a'+i)), registry.URLs{Rsync: f.rsync.URL("pub")})
		ids = append(ids, m.ID)
	}
	off := f.mirror("off", registry.URLs{Rsync: deadURL(t, "rsync")})
	off.Enabled = false
	if _, err := f.st.UpdateMirror(context.Background(), off); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	perMirror := map[int64]int{}
	stop := f.scheduler(c, 2, func(r Result, _ error) { mu.Lock(); perMirror[r.MirrorID]++; mu.Unlock() })
	waitFor(t, "every mirror scanned twice", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if perMirror[id] < 2 {
				return false
			}
		}
		return true
	})
	stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peak != 2 {
		t.Fatalf("peak concurrency %d, want exactly the bound 2", c.peak)
	}
	if c.calls[off.URLs.Rsync] != 0 {
		t.Fatal("a disabled mirror was scanned")
	}
}

func TestSchedulerBacksOffFailingMirrors(t *testing.T) {
	f := newFixture(t)
	c := &counting{Scanner: f.svc.Scanners[registry.RSYNC], calls: map[string]int{}}
	good := f.mirror("good", registry.URLs{Rsync: f.rsync.URL("pub")})
	bad := f.mirror("bad", registry.URLs{Rsync: deadURL(t, "rsync")})
	var mu sync.Mutex
	var badAt []time.Time
	stop := f.scheduler(c, 4, func(r Result, err error) {
		if r.MirrorID == bad.ID {
			mu.Lock()
			badAt = append(badAt, time.Now())
			mu.Unlock()
		}
	})
	// The good mirror keeps being scanned meanwhile: on a loaded machine
	// its real rsync scans are slow, so wait for both, not for the bad
	// mirror's count alone.
	waitFor(t, "six failed scans, and three of the good mirror", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(badAt) >= 6 && c.count(good.URLs.Rsync) >= 3
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	// Each gap is at least the delay the backoff scheduled (one interval,
	// doubling, capped at 800ms); a dead port fails in milliseconds, so the
	// gaps are close to it.
	for i := 1; i < 6; i++ {
		want := min(100*time.Millisecond<<(i-1), 800*time.Millisecond)
		if gap := badAt[i].Sub(badAt[i-1]); gap < want || gap > want+2*time.Second {
			t.Fatalf("gap %d is %v, want about %v", i, gap, want)
		}
	}
	scans, _ := f.st.Scans(context.Background(), "bad", 100)
	for _, sc := range scans {
		if sc.OK {
			t.Fatal("the dead mirror has a good scan")
		}
	}
}

func TestDelay(t *testing.T) {
	s := &Scheduler{Interval: time.Hour, MaxBackoff: 12 * time.Hour}
	ms := &mirrorState{}
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, s.delay(ms, false))
	}
	want := []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	if d := s.delay(ms, true); d != time.Hour || ms.fails != 0 {
		t.Fatalf("after success: %v, fails %d", d, ms.fails)
	}
}
