package redirector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/scan/schedule"
	"github.com/mirrorkit/mirrorkit/internal/selection"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Loader keeps a Server's state in step with the store: the registry, the
// catalog and the mirrors' holdings. The store is read off the hot path; if
// it is away, the server keeps answering from the state it has.
type Loader struct {
	Store store.Store
	// Scans loads catalog and holdings into an inventory and knows which
	// mirrors are fresh.
	Scans     *schedule.Service
	Server    *Server
	Embargoed []string
	Log       *slog.Logger
	// Health, when set, feeds probe results into selection.
	Health *Health
	// MaxLag is by tier the lag (now minus the trace seen on a mirror) past
	// which it is stale (probe.max_lag); nil or 0 is no limit.
	MaxLag []time.Duration
	// Now is the clock of freshness and of the network picture; nil is the
	// scan service's clock.
	Now func() time.Time

	// version is what the current state was built from, to skip rebuilding
	// when nothing changed.
	build, scan int64
	loaded      bool
	cat         *Catalog
	// good is each mirror's last good scan seen since start, so a failed
	// scan does not blank its completion and trace in the public picture.
	good map[int64]store.ScanRecord

	kickOnce sync.Once
	kicks    chan struct{}
}

// Refresh rebuilds the state when the catalog or any mirror's holdings
// changed since the last refresh, and the selection table always (registry
// edits and freshness are cheap to recompute).
func (l *Loader) Refresh(ctx context.Context) error {
	builds, err := l.Store.CatalogBuilds(ctx, 1)
	if err != nil {
		return fmt.Errorf("read catalog builds: %w", err)
	}
	latest, err := l.Store.LatestScans(ctx)
	if err != nil {
		return fmt.Errorf("read scans: %w", err)
	}
	build, scan := int64(0), int64(0)
	if len(builds) > 0 {
		build = builds[0].ID
	}
	for _, r := range latest {
		scan = max(scan, r.ID)
	}
	if !l.loaded || build != l.build || scan != l.scan {
		if !l.loaded || build != l.build {
			entries, err := l.Store.CatalogEntries(ctx)
			if err != nil {
				return fmt.Errorf("read catalog: %w", err)
			}
			l.cat = NewCatalog(entries)
			if _, clash := l.cat.children[strings.TrimSuffix(APIPrefix, "/")]; clash && l.Log != nil {
				l.Log.Error("the catalog has a top-level /api directory, but the redirector's API owns /api/: files below it cannot be downloaded through the redirector; rename it at the origin")
			}
		}
		if err := l.Scans.Load(ctx); err != nil {
			return err
		}
		l.build, l.scan, l.loaded = build, scan, true
	}
	mirrors, err := l.Store.Mirrors(ctx)
	if err != nil {
		return fmt.Errorf("read mirrors: %w", err)
	}
	sites, err := l.Store.Sites(ctx)
	if err != nil {
		return fmt.Errorf("read sites: %w", err)
	}
	if l.good == nil {
		l.good = map[int64]store.ScanRecord{}
	}
	for id, r := range latest {
		if r.OK {
			l.good[id] = r
		}
	}
	now := l.now()
	fresh := netstatus.Freshness{MaxAge: l.Scans.MaxAge, MaxLag: l.MaxLag}
	in := netstatus.Inputs{Now: now, Mirrors: mirrors, Sites: sites, Scans: map[int64]netstatus.ScanInfo{},
		Probes: map[int64][]probe.Health{}, Rescanning: map[int64]bool{}, Files: l.cat.files, Freshness: fresh}
	if len(builds) > 0 {
		in.CatalogBuilt = builds[0].FinishedAt
	}
	snap := l.Scans.Inventory.Snapshot()
	if l.Health != nil {
		l.Health.update(mirrors, snap)
	}
	var ms []selection.Mirror
	for _, m := range mirrors {
		lastGood, _ := l.Scans.LastGood(m.ID)
		if r, ok := latest[m.ID]; ok {
			info := netstatus.ScanInfo{Latest: r, LastGood: lastGood}
			if g, ok := l.good[m.ID]; ok {
				info.Good = &g
			}
			in.Scans[m.ID] = info
		}
		state := selection.State{Fresh: true}
		// One rule for redirects and for every public view: the same
		// function decides staleness for both.
		if why := fresh.Stale(m.Tier, lastGood, in.Scans[m.ID].Trace(), now); len(why) > 0 {
			state = selection.State{StaleReason: strings.Join(why, "; ")}
		}
		l.Health.apply(m, lastGood, &state)
		if l.Health != nil {
			in.Probes[m.ID] = l.Health.Tracker.Mirror(m.ID)
			in.Rescanning[m.ID] = l.Health.waiting(m.ID)
		}
		slot, ok := snap.Slot(m.ID)
		if !ok {
			continue // never scanned: holds nothing anyone knows of
		}
		ms = append(ms, selection.Mirror{Mirror: m, Slot: slot, State: state})
	}
	tb, err := selection.NewTable(ms)
	if err != nil {
		return err
	}
	l.Server.SetState(NewState(tb, snap, l.cat, l.Embargoed))
	l.Server.SetNetwork(netstatus.Build(in))
	return nil
}

func (l *Loader) now() time.Time {
	switch {
	case l.Now != nil:
		return l.Now()
	case l.Scans.Now != nil:
		return l.Scans.Now()
	}
	return time.Now()
}

// Kick asks Run for a refresh now (a mirror went down or came back); it
// never blocks.
func (l *Loader) Kick() {
	select {
	case l.kick() <- struct{}{}:
	default:
	}
}

func (l *Loader) kick() chan struct{} {
	l.kickOnce.Do(func() { l.kicks = make(chan struct{}, 1) })
	return l.kicks
}

// Run refreshes every interval, and when kicked, until ctx ends. A failed
// refresh keeps the previous state and is logged.
func (l *Loader) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.kick():
		}
		{
			if err := l.Refresh(ctx); err != nil && ctx.Err() == nil && l.Log != nil {
				l.Log.Warn("state refresh failed; still serving the previous state", "err", err)
			}
		}
	}
}
