package schedule

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// Scheduler scans every enabled mirror on an interval.
type Scheduler struct {
	Service *Service
	// Mirrors returns the registry's mirrors; called every round, so
	// registrations and edits take effect without a restart.
	Mirrors func(ctx context.Context) ([]registry.Mirror, error)
	// Interval between good scans of one mirror, moved by up to Jitter.
	Interval, Jitter time.Duration
	// MaxBackoff caps the delay after failures: one interval after the first,
	// doubling with each further one.
	MaxBackoff time.Duration
	// Concurrency bounds the scans running at once (at least 1).
	Concurrency int
	// Rand draws jitter; seeded by the caller so tests are repeatable.
	Rand *rand.Rand
	// Poll is how often the mirror list is re-read while nothing is due.
	Poll time.Duration
	// OnResult, when set, sees every finished scan (metrics, tests).
	OnResult func(Result, error)
}

type mirrorState struct {
	next    time.Time
	fails   int
	running bool
}

type done struct {
	id  int64
	res Result
	err error
}

// Run scans until ctx ends, then waits for running scans to stop.
func (s *Scheduler) Run(ctx context.Context) error {
	conc := max(1, s.Concurrency)
	poll := s.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	rng := s.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	}
	jitter := func() time.Duration {
		if s.Jitter <= 0 {
			return 0
		}
		return time.Duration(rng.Int64N(int64(s.Jitter)))
	}
	state := map[int64]*mirrorState{}
	finished := make(chan done)
	running := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		mirrors, err := s.Mirrors(ctx)
		if err != nil {
			// The store may be away for a while; scanning waits, what is known stays.
			s.Service.log().Warn("scheduler: cannot read the mirror list", "err", err)
			mirrors = nil
		}
		now := s.Service.now()
		seen := map[int64]bool{}
		earliest := now.Add(poll)
		var due []registry.Mirror
		for _, m := range mirrors {
			if !m.Enabled {
				continue
			}
			seen[m.ID] = true
			ms := state[m.ID]
			if ms == nil {
				// New mirrors start within one jitter, not all at once.
				ms = &mirrorState{next: now.Add(jitter())}
				state[m.ID] = ms
			}
			switch {
			case ms.running:
			case !ms.next.After(now):
				due = append(due, m)
			case ms.next.Before(earliest):
				earliest = ms.next
			}
		}
		// Longest overdue first: when scans take longer than the interval,
		// mirrors early in the list must not take every free slot.
		slices.SortFunc(due, func(a, b registry.Mirror) int { return state[a.ID].next.Compare(state[b.ID].next) })
		for _, m := range due {
			if running == conc {
				break
			}
			state[m.ID].running = true
			running++
			go func(m registry.Mirror) {
				res, err := s.Service.ScanMirror(ctx, m)
				finished <- done{id: m.ID, res: res, err: err}
			}(m)
		}
		for id, ms := range state {
			if !seen[id] && !ms.running {
				delete(state, id) // removed or disabled
			}
		}
		timer.Reset(max(0, earliest.Sub(now)))
		select {
		case <-ctx.Done():
			for running > 0 {
				<-finished
				running--
			}
			return ctx.Err()
		case d := <-finished:
			running--
			if ms := state[d.id]; ms != nil {
				ms.running = false
				ms.next = s.Service.now().Add(s.delay(ms, d.err == nil) + jitter())
			}
			if s.OnResult != nil {
				s.OnResult(d.res, d.err)
			}
		case <-timer.C:
		}
	}
}

// delay is the wait before a mirror's next scan: one interval after a good
// scan, doubling per consecutive failure up to MaxBackoff.
func (s *Scheduler) delay(ms *mirrorState, ok bool) time.Duration {
	if ok {
		ms.fails = 0
		return s.Interval
	}
	ms.fails++
	d := s.Interval
	for i := 1; i < ms.fails && d < s.MaxBackoff; i++ {
		d *= 2
	}
	if s.MaxBackoff > 0 && d > s.MaxBackoff {
		d = s.MaxBackoff
	}
	return d
}
