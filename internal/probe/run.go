package probe

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

func sortHealth(hs []Health) {
	slices.SortFunc(hs, func(a, b Health) int {
		return cmp.Or(cmp.Compare(a.MirrorID, b.MirrorID), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Family, b.Family))
	})
}

// Runner probes a set of targets round after round.
type Runner struct {
	Prober  *Prober
	Tracker *Tracker
	// Interval between rounds (default 60 s); each target is probed once a
	// round, plus the retries of a failing one.
	Interval time.Duration
	// Concurrency bounds the mirrors probed at once (default 16).
	Concurrency int
	// Retry is the pause before probing a failing target again within the
	// same round, until it is down or answers (default Interval divided by
	// twice the tracker's DownAfter), so a dead mirror is found out within
	// one interval, not DownAfter of them.
	Retry time.Duration
	// Targets is called each round, so registry edits take effect at the
	// next one.
	Targets func() []Target
	// Observe, when set, sees every probe's result, retries included
	// (metrics); RoundDone how long each round took.
	Observe   func(Result)
	RoundDone func(time.Duration)
}

func (rn *Runner) interval() time.Duration {
	if rn.Interval <= 0 {
		return time.Minute
	}
	return rn.Interval
}

// Round probes every target, at most Concurrency mirrors at a time, records
// the results and returns each target's last one in the targets' order. A
// mirror's targets run one after another, so a mirror sees at most one
// probe of ours at any moment.
func (rn *Runner) Round(ctx context.Context, targets []Target) []Result {
	concurrency := rn.Concurrency
	if concurrency <= 0 {
		concurrency = 16
	}
	retry := rn.Retry
	if retry <= 0 {
		retry = rn.interval() / time.Duration(2*rn.Tracker.downAfter())
	}
	byMirror := map[int64][]int{}
	var order []int64
	for i, t := range targets {
		if _, ok := byMirror[t.MirrorID]; !ok {
			order = append(order, t.MirrorID)
		}
		byMirror[t.MirrorID] = append(byMirror[t.MirrorID], i)
	}
	results := make([]Result, len(targets))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, id := range order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return results
		}
		wg.Add(1)
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				for {
					r := rn.Prober.Probe(ctx, targets[i])
					if ctx.Err() != nil {
						return // shutting down: not the mirror's fault
					}
					results[i] = r
					if rn.Observe != nil {
						rn.Observe(r)
					}
					if h := rn.Tracker.Record(r); r.OK || !h.Up {
						break
					}
					select {
					case <-time.After(retry):
					case <-ctx.Done():
						return
					}
				}
			}
		}(byMirror[id])
	}
	wg.Wait()
	return results
}

// Run probes every Interval until ctx ends; a round that runs longer than
// the interval delays the next instead of overlapping it.
func (rn *Runner) Run(ctx context.Context) {
	t := time.NewTicker(rn.interval())
	defer t.Stop()
	for {
		start := time.Now()
		rn.Round(ctx, rn.Targets())
		if rn.RoundDone != nil && ctx.Err() == nil {
			rn.RoundDone(time.Since(start))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TargetsFor lists what to probe for a mirror: each protocol it has a URL
// for, over each address family it claims, checking the small file path
// (a trace file such as "/TIME" is current on any good mirror).
func TargetsFor(m registry.Mirror, path string) []Target {
	var out []Target
	for _, proto := range registry.Protocols() {
		u := m.URLs.Get(proto)
		if u == "" {
			continue
		}
		for _, f := range []struct {
			fam Family
			on  bool
		}{{IPv4, m.IPv4}, {IPv6, m.IPv6}} {
			if f.on {
				out = append(out, Target{MirrorID: m.ID, Protocol: proto, Family: f.fam, URL: u, Path: path})
			}
		}
	}
	return out
}
