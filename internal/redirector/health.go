package redirector

import (
	"context"
	"sync"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

// Health joins probes to the redirector's state: which mirrors to probe and
// with which file, whether each may get clients, and the rescan a mirror
// needs when it comes back before it gets any.
type Health struct {
	Tracker *probe.Tracker
	// TraceFiles are tried, in order, as the small file to probe: the first
	// the catalog has and the mirror holds. Without one, a probe checks only
	// that the service answers.
	TraceFiles []string
	// Rescan scans a mirror that came back up; nil leaves it to the scanner
	// daemon.
	Rescan func(ctx context.Context, m registry.Mirror) error
	// Changed is called when a mirror's fitness changed, so the state is
	// rebuilt at once instead of at the next refresh.
	Changed func()
	// Metrics, when set, records the rescans.
	Metrics *Metrics

	mu      sync.Mutex
	targets []probe.Target
	mirrors map[int64]registry.Mirror
	// back holds when each mirror came back up, until a scan after that.
	back     map[int64]time.Time
	scanning map[int64]bool
}

// Start registers the tracker hook; call it once, before probes run.
func (h *Health) Start(ctx context.Context) {
	h.Tracker.OnChange(func(prev, cur probe.Health) {
		if cur.Protocol != registry.HTTP && cur.Protocol != registry.HTTPS {
			return // clients are only sent to HTTP(S) URLs
		}
		if cur.Up && !prev.Up {
			h.cameBack(ctx, cur.MirrorID, cur.Since)
		}
		if h.Changed != nil {
			h.Changed()
		}
	})
}

// cameBack marks a mirror as needing a rescan and starts one.
func (h *Health) cameBack(ctx context.Context, id int64, at time.Time) {
	h.mu.Lock()
	if h.back == nil {
		h.back, h.scanning = map[int64]time.Time{}, map[int64]bool{}
	}
	h.back[id] = at
	m, known := h.mirrors[id]
	start := known && h.Rescan != nil && !h.scanning[id]
	if start {
		h.scanning[id] = true
	}
	h.mu.Unlock()
	if !start {
		return
	}
	go func() {
		start := time.Now()
		err := h.Rescan(ctx, m) // a failure leaves it waiting for the next scan
		h.Metrics.observeRescan(time.Since(start), err)
		h.mu.Lock()
		delete(h.scanning, id)
		h.mu.Unlock()
		if h.Changed != nil {
			h.Changed()
		}
	}()
}

// History returns the recent probe results of a mirror, by name, over all
// its targets; nil for a mirror not in the last refresh.
func (h *Health) History(name string) []probe.Result {
	h.mu.Lock()
	id, found := int64(0), false
	for _, m := range h.mirrors {
		if m.Name == name {
			id, found = m.ID, true
			break
		}
	}
	h.mu.Unlock()
	if !found {
		return nil
	}
	var out []probe.Result
	for _, hl := range h.Tracker.Mirror(id) {
		out = append(out, h.Tracker.History(hl.Key)...)
	}
	return out
}

// Targets is what to probe now (for probe.Runner.Targets).
func (h *Health) Targets() []probe.Target {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.targets
}

// update takes the registry and inventory of a refresh: the probe targets
// for the next round.
func (h *Health) update(mirrors []registry.Mirror, snap *inventory.Snapshot) {
	var targets []probe.Target
	byID := make(map[int64]registry.Mirror, len(mirrors))
	for _, m := range mirrors {
		byID[m.ID] = m
		if !m.Enabled {
			continue
		}
		targets = append(targets, probe.TargetsFor(m, h.probePath(m, snap))...)
	}
	h.mu.Lock()
	h.targets, h.mirrors = targets, byID
	h.mu.Unlock()
}

func (h *Health) probePath(m registry.Mirror, snap *inventory.Snapshot) string {
	slot, ok := snap.Slot(m.ID)
	if !ok {
		return ""
	}
	for _, p := range h.TraceFiles {
		if id, found := snap.Lookup(p); found && snap.Holders(id).Has(slot) {
			return p
		}
	}
	return ""
}

// state says whether probes let the mirror get clients: every HTTP(S) URL it
// has answers over at least one address family, and, if it came back up
// lately, it has been scanned since. lastGood is its last good scan.
func (h *Health) state(m registry.Mirror, lastGood time.Time) (probed, up bool) {
	probed, down := netstatus.ProbesDown(h.Tracker.Mirror(m.ID))
	up = len(down) == 0
	h.mu.Lock()
	defer h.mu.Unlock()
	if at, ok := h.back[m.ID]; ok {
		if lastGood.After(at) {
			delete(h.back, m.ID)
		} else {
			return true, false
		}
	}
	return probed, up
}

// waiting reports whether a mirror came back up and waits for its rescan
// (after apply has cleared the ones scanned since).
func (h *Health) waiting(id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.back[id]
	return ok
}

// apply sets the probe part of a mirror's selection state.
func (h *Health) apply(m registry.Mirror, lastGood time.Time, st *selection.State) {
	if h == nil {
		return
	}
	st.Probed, st.Up = h.state(m, lastGood)
}
