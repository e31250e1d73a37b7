package redirector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

	// version is what the current state was built from, to skip rebuilding
	// when nothing changed.
	build, scan int64
	loaded      bool
	cat         *Catalog

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
	snap := l.Scans.Inventory.Snapshot()
	if l.Health != nil {
		l.Health.update(mirrors, snap)
	}
	var ms []selection.Mirror
	for _, m := range mirrors {
		slot, ok := snap.Slot(m.ID)
		if !ok {
			continue // never scanned: holds nothing anyone knows of
		}
		lastGood, fresh := l.Scans.LastGood(m.ID)
		state := selection.State{Fresh: fresh}
		l.Health.apply(m, lastGood, &state)
		ms = append(ms, selection.Mirror{Mirror: m, Slot: slot, State: state})
	}
	tb, err := selection.NewTable(ms)
	if err != nil {
		return err
	}
	l.Server.SetState(NewState(tb, snap, l.cat, l.Embargoed))
	return nil
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
