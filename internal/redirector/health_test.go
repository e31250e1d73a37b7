package redirector

import (
	"context"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// startHealth returns a started Health whose rescans and rebuild requests
// land in the channels.
func startHealth(downAfter, upAfter int) (*Health, *probe.Tracker, chan registry.Mirror, chan struct{}) {
	tr := &probe.Tracker{DownAfter: downAfter, UpAfter: upAfter}
	rescans := make(chan registry.Mirror, 4)
	changed := make(chan struct{}, 16)
	h := &Health{Tracker: tr, Rescan: func(_ context.Context, m registry.Mirror) error { rescans <- m; return nil },
		Changed: func() { changed <- struct{}{} }}
	h.Start(context.Background())
	return h, tr, rescans, changed
}

func TestHealthHoldsBackUntilRescanned(t *testing.T) {
	h, tr, rescans, changed := startHealth(1, 1)
	m := registry.NewMirror("m", "s")
	m.ID, m.URLs.HTTPS, m.URLs.Rsync, m.IPv4, m.IPv6 = 1, "https://m.example/", "rsync://m.example/pub/", true, true
	w := newWorld(t, Config{})
	h.update([]registry.Mirror{m}, w.inv.Snapshot())
	if got := len(h.Targets()); got != 4 {
		t.Fatalf("targets for https+rsync over two families: %d", got)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(p registry.Protocol, f probe.Family) probe.Target {
		return probe.Target{MirrorID: 1, Protocol: p, Family: f}
	}
	if probed, up := h.state(m, t0); probed || !up {
		t.Fatalf("before any probe: probed=%v up=%v", probed, up)
	}
	// IPv6 https down, IPv4 https up: clients can still reach it.
	tr.Record(probe.Result{Target: key(registry.HTTPS, probe.IPv4), At: t0, OK: true})
	tr.Record(probe.Result{Target: key(registry.HTTPS, probe.IPv6), At: t0, Reason: "network unreachable"})
	// rsync down does not matter to clients.
	tr.Record(probe.Result{Target: key(registry.RSYNC, probe.IPv4), At: t0, Reason: "connection refused"})
	if probed, up := h.state(m, t0); !probed || !up {
		t.Fatalf("https up over IPv4: probed=%v up=%v", probed, up)
	}
	// Both families down: out.
	tr.Record(probe.Result{Target: key(registry.HTTPS, probe.IPv4), At: t0.Add(time.Minute), Reason: "timeout after 10s"})
	if _, up := h.state(m, t0); up {
		t.Fatal("a mirror down on every family is up")
	}
	// Back: a rescan starts, and until a good scan after its return it stays out.
	back := t0.Add(2 * time.Minute)
	tr.Record(probe.Result{Target: key(registry.HTTPS, probe.IPv4), At: back, OK: true})
	select {
	case got := <-rescans:
		if got.ID != 1 {
			t.Fatalf("rescanned %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rescan after the mirror came back")
	}
	if _, up := h.state(m, t0.Add(time.Minute)); up {
		t.Fatal("a mirror back up but not rescanned since gets clients")
	}
	if _, up := h.state(m, back.Add(time.Second)); !up {
		t.Fatal("rescanned after coming back, still held out")
	}
	if len(changed) == 0 {
		t.Fatal("no state rebuild was asked for")
	}
}

// A failing mirror gets no clients from its first failed probe; if the next
// probe answers before it is confirmed down, it is back at once, with no
// rescan (it never went away long enough to miss a sync).
func TestHealthFailingIsOutAtOnce(t *testing.T) {
	h, tr, rescans, changed := startHealth(3, 2)
	m := registry.NewMirror("m", "s")
	m.ID, m.URLs.HTTPS, m.IPv4 = 1, "https://m.example/", true
	h.update([]registry.Mirror{m}, newWorld(t, Config{}).inv.Snapshot())
	tg := probe.Target{MirrorID: 1, Protocol: registry.HTTPS, Family: probe.IPv4}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr.Record(probe.Result{Target: tg, At: t0, OK: true})
	if _, up := h.state(m, t0); !up {
		t.Fatal("answering mirror is out")
	}
	tr.Record(probe.Result{Target: tg, At: t0.Add(time.Minute), Reason: "connection refused"})
	if _, up := h.state(m, t0); up {
		t.Fatal("a mirror that failed its last probe still gets clients")
	}
	if len(changed) == 0 {
		t.Fatal("the first failure asked for no state rebuild")
	}
	if hl := tr.Health(tg.Key()); !hl.Up || !hl.Failing {
		t.Fatalf("one failure of three: %+v", hl)
	}
	tr.Record(probe.Result{Target: tg, At: t0.Add(70 * time.Second), OK: true})
	if _, up := h.state(m, t0); !up {
		t.Fatal("a mirror whose retry answered is still out")
	}
	select {
	case got := <-rescans:
		t.Fatalf("rescanned %s after a failure that was never confirmed", got.Name)
	default:
	}
}
