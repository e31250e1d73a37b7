package geo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ReloaderOptions are the Reloader's hooks. Both are optional and are called
// from the goroutine doing the reload.
type ReloaderOptions struct {
	// OnError receives every failed reload. The previous data stays in
	// service.
	OnError func(error)
	// OnReload is called after a new Resolver has been swapped in.
	OnReload func(*Resolver)
}

// Reloader serves lookups from the current Resolver and replaces it when the
// files change. Lookups never block on a reload and never see a half-loaded
// state: the new Resolver is built completely, then published with one
// atomic store; lookups already running finish on the old one.
type Reloader struct {
	cfg  Config
	opts ReloaderOptions
	cur  atomic.Pointer[Resolver]

	mu     sync.Mutex  // serialises loads, guards stamps
	stamps []fileStamp // what the last load attempt saw
}

// NewReloader returns a Reloader with no data loaded: Lookup answers Info{}
// until Reload succeeds. Loading is left to the caller so that it can decide
// whether missing geo data at start-up is fatal.
func NewReloader(cfg Config, opts ReloaderOptions) *Reloader {
	return &Reloader{cfg: cfg, opts: opts}
}

// Lookup answers from the current Resolver.
func (l *Reloader) Lookup(addr netip.Addr) Info { return l.cur.Load().Lookup(addr) }

// Resolver returns the current snapshot (nil before the first successful
// load), for callers that want several consistent lookups.
func (l *Reloader) Resolver() *Resolver { return l.cur.Load() }

// Reload loads all files now, whether or not they changed. On failure the
// previous Resolver stays in service and the error is returned (and not
// passed to OnError: the caller already has it).
func (l *Reloader) Reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reloadLocked(ctx, statAll(l.cfg.files()))
}

// Run polls the files every interval and reloads when any of them changed
// (modification time, size, or identity, so an atomic rename is noticed even
// when time and size happen to match). It returns when ctx is done. A failed
// load is reported through OnError once per change of the files, not on
// every tick, and is retried when the files change again.
func (l *Reloader) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("geo: reload interval must be positive, got %v", every)
	}
	if l.cfg.Empty() {
		// Nothing can ever change; still honour ctx so callers can treat
		// Run uniformly.
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			l.poll(ctx)
		}
	}
}

func (l *Reloader) poll(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := statAll(l.cfg.files())
	if l.stamps != nil && stampsEqual(now, l.stamps) {
		return
	}
	if err := l.reloadLocked(ctx, now); err != nil && l.opts.OnError != nil && ctx.Err() == nil {
		l.opts.OnError(err)
	}
}

// reloadLocked records the stamps taken before reading, so that a file
// replaced while it is being read is seen as changed on the next poll.
func (l *Reloader) reloadLocked(ctx context.Context, stamps []fileStamp) error {
	r, err := Open(ctx, l.cfg)
	if ctx.Err() != nil {
		// Cancelled part-way: leave the stamps alone so the next Run
		// retries instead of believing the files were dealt with.
		return err
	}
	l.stamps = stamps
	if err != nil {
		return err
	}
	l.cur.Store(r)
	if l.opts.OnReload != nil {
		l.opts.OnReload(r)
	}
	return nil
}

type fileStamp struct {
	info fs.FileInfo // nil when the file could not be stat'ed
	err  string
}

func statAll(paths []string) []fileStamp {
	out := make([]fileStamp, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			// Compare by message: a missing file that stays missing is
			// not a change, one that appears is.
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			out[i].err = err.Error()
			continue
		}
		out[i].info = fi
	}
	return out
}

func stampsEqual(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if (x.info == nil) != (y.info == nil) || x.err != y.err {
			return false
		}
		if x.info == nil {
			continue
		}
		if !x.info.ModTime().Equal(y.info.ModTime()) || x.info.Size() != y.info.Size() || !os.SameFile(x.info, y.info) {
			return false
		}
	}
	return true
}
