package probe

import (
	"sync"
	"time"
)

// Health is a target's state as the tracker sees it.
type Health struct {
	Key
	// Known: at least one probe has been recorded.
	Known bool `json:"known"`
	// Up follows results with hysteresis: it turns false after DownAfter
	// consecutive failures and true after UpAfter consecutive successes.
	Up bool `json:"up"`
	// Since is when Up last changed (the first result, for a new target).
	Since time.Time `json:"since"`
	// Failing: the last probe failed. A failing target gets no clients at
	// once, before it is confirmed down: a dead mirror then loses its
	// clients at the first failed probe, not DownAfter probes later, and
	// a blip costs it only the seconds until the retry answers.
	Failing bool `json:"failing,omitempty"`
	// Reason is the last failure's reason while down, or while failures
	// accumulate; "" when the last probe succeeded.
	Reason string `json:"reason,omitempty"`
	// Streak counts the consecutive results that agree with the last one.
	Streak  int           `json:"streak"`
	Last    time.Time     `json:"last"`
	Latency time.Duration `json:"latency"`
}

// Tracker folds results into per-target health and keeps a short history.
// It is safe for concurrent use.
type Tracker struct {
	// DownAfter and UpAfter are the hysteresis (defaults 3 and 2).
	DownAfter, UpAfter int
	// Keep is how many results are kept per target (default 60: an hour at
	// the default interval).
	Keep int

	mu      sync.Mutex
	state   map[Key]*entry
	changes func(prev, cur Health)
}

type entry struct {
	h    Health
	hist []Result // ring, oldest at next
	next int
	ok   bool // the streak's polarity
}

// OnChange sets a function called (outside the lock) whenever a target goes
// up or down or starts or stops failing, with its health before and after
// the result: to rescan a mirror that came back before it gets clients, and
// to stop sending clients to one that fails.
func (t *Tracker) OnChange(f func(prev, cur Health)) {
	t.mu.Lock()
	t.changes = f
	t.mu.Unlock()
}

// Record folds one result in and returns the target's health after it. A
// new target starts up at its first success and down only after
// DownAfter failures in a row: a mirror is innocent until proven absent,
// but never for long.
func (t *Tracker) Record(r Result) Health {
	down, up, keep := t.downAfter(), t.UpAfter, t.Keep
	if up <= 0 {
		up = 2
	}
	if keep <= 0 {
		keep = 60
	}
	t.mu.Lock()
	if t.state == nil {
		t.state = map[Key]*entry{}
	}
	e := t.state[r.Key()]
	first := e == nil
	if first {
		e = &entry{h: Health{Key: r.Key(), Up: true, Since: r.At}}
		t.state[r.Key()] = e
	}
	if len(e.hist) < keep {
		e.hist = append(e.hist, r)
	} else {
		e.hist[e.next] = r
		e.next = (e.next + 1) % keep
	}
	if first || e.ok != r.OK {
		e.ok, e.h.Streak = r.OK, 0
	}
	prev := e.h
	e.h.Streak++
	e.h.Known, e.h.Last, e.h.Latency = true, r.At, r.Latency
	e.h.Reason, e.h.Failing = r.Reason, !r.OK
	switch {
	case r.OK && !e.h.Up && e.h.Streak >= up:
		e.h.Up = true
	case !r.OK && e.h.Up && e.h.Streak >= down:
		e.h.Up = false
	}
	if prev.Up != e.h.Up {
		e.h.Since = r.At
	}
	changed := prev.Up != e.h.Up || prev.Failing != e.h.Failing
	h, notify := e.h, t.changes
	t.mu.Unlock()
	if changed && notify != nil {
		notify(prev, h)
	}
	return h
}

func (t *Tracker) downAfter() int {
	if t.DownAfter <= 0 {
		return 3
	}
	return t.DownAfter
}

// Health returns a target's health; Known is false for one never probed.
func (t *Tracker) Health(k Key) Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.state[k]; e != nil {
		return e.h
	}
	return Health{Key: k}
}

// Mirror returns the health of every probed target of a mirror.
func (t *Tracker) Mirror(mirrorID int64) []Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Health
	for k, e := range t.state {
		if k.MirrorID == mirrorID {
			out = append(out, e.h)
		}
	}
	sortHealth(out)
	return out
}

// History returns a target's recent results, oldest first.
func (t *Tracker) History(k Key) []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.state[k]
	if e == nil {
		return nil
	}
	out := make([]Result, 0, len(e.hist))
	out = append(out, e.hist[e.next:]...)
	return append(out, e.hist[:e.next]...)
}

// Forget drops every target of a mirror (removed from the registry).
func (t *Tracker) Forget(mirrorID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.state {
		if k.MirrorID == mirrorID {
			delete(t.state, k)
		}
	}
}
