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

// Round probes every target once, at most concurrency at a time, records
// the results in the tracker and returns them in the targets' order. A
// mirror's targets run one after another, so a mirror sees at most one probe
// of ours at any moment.
func Round(ctx context.Context, p *Prober, tr *Tracker, targets []Target, concurrency int) []Result {
	if concurrency <= 0 {
		concurrency = 16
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
				if ctx.Err() != nil {
					return
				}
				r := p.Probe(ctx, targets[i])
				if ctx.Err() != nil {
					return // shutting down: not the mirror's fault
				}
				results[i] = r
				tr.Record(r)
			}
		}(byMirror[id])
	}
	wg.Wait()
	return results
}

// Run probes the targets every interval until ctx ends. targets is called
// each round, so registry edits take effect at the next one; a round that
// runs longer than the interval delays the next instead of overlapping it.
func Run(ctx context.Context, p *Prober, tr *Tracker, interval time.Duration, concurrency int, targets func() []Target) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		Round(ctx, p, tr, targets(), concurrency)
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
