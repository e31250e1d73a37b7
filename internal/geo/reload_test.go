package geo

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/geo/geotest"
)

// events collects the Reloader's callbacks on channels so tests can wait for
// them with a deadline instead of sleeping.
type events struct {
	reloads chan *Resolver
	errs    chan error
}

func newEvents() *events {
	return &events{reloads: make(chan *Resolver, 100), errs: make(chan error, 100)}
}

func (e *events) options() ReloaderOptions {
	return ReloaderOptions{
		OnError:  func(err error) { e.errs <- err },
		OnReload: func(r *Resolver) { e.reloads <- r },
	}
}

const waitLimit = 10 * time.Second

func (e *events) waitReload(t *testing.T) *Resolver {
	t.Helper()
	select {
	case r := <-e.reloads:
		return r
	case err := <-e.errs:
		t.Fatalf("reload failed: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("no reload within deadline")
	}
	return nil
}

func (e *events) waitError(t *testing.T) error {
	t.Helper()
	select {
	case r := <-e.reloads:
		t.Fatalf("unexpected successful reload %p", r)
	case err := <-e.errs:
		return err
	case <-time.After(waitLimit):
		t.Fatal("no error within deadline")
	}
	return nil
}

// runReloader starts Run and stops it (and waits for it) at test end.
func runReloader(t *testing.T, l *Reloader, every time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, every) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
	})
}

func TestReloaderPicksUpReplacement(t *testing.T) {
	dir := t.TempDir()
	path := geotest.WriteMMDB(t, dir, "city.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25)})
	ev := newEvents()
	l := NewReloader(Config{CityFiles: []string{path}}, ev.options())

	if got := l.Lookup(addrDE); got != (Info{}) {
		t.Fatalf("Lookup before any load = %+v, want zero", got)
	}
	if err := l.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	<-ev.reloads // the synchronous load also notifies
	if got := l.Lookup(addrDE); got.Country != "DE" {
		t.Fatalf("Lookup after load = %+v, want DE", got)
	}

	runReloader(t, l, 5*time.Millisecond)
	geotest.WriteMMDB(t, dir, "city.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("NL", 52.25, 4.75)})
	r := ev.waitReload(t)
	if got := r.Lookup(addrDE); got.Country != "NL" {
		t.Errorf("new resolver Lookup = %+v, want NL", got)
	}
	if got := l.Lookup(addrDE); got.Country != "NL" {
		t.Errorf("Reloader.Lookup after reload = %+v, want NL", got)
	}
	if l.Resolver() != r {
		t.Error("Resolver() is not the one reported by OnReload")
	}
}

func TestReloaderKeepsDataOnBadFile(t *testing.T) {
	dir := t.TempDir()
	city := geotest.WriteMMDB(t, dir, "city.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25)})
	asn := filepath.Join(dir, "asn.csv")
	geotest.WriteFileAtomic(t, asn, []byte("192.0.2.0,192.0.2.255,64500,Org\n"))
	ev := newEvents()
	l := NewReloader(Config{CityFiles: []string{city}, ASNFiles: []string{asn}}, ev.options())
	if err := l.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	<-ev.reloads
	want := l.Lookup(addrDE)
	if !want.Known || want.ASN != 64500 {
		t.Fatalf("Lookup = %+v, want DE and AS64500", want)
	}
	runReloader(t, l, 5*time.Millisecond)

	good, err := os.ReadFile(city)
	if err != nil {
		t.Fatal(err)
	}
	goodCSV := []byte("192.0.2.0,192.0.2.255,64500,Org\n")
	// Each case changes exactly one file with one rename, so each change
	// produces exactly one event and the test cannot race the poller.
	for _, tc := range []struct {
		name      string
		path      string
		bad, good []byte
	}{
		{"garbage mmdb", city, []byte("garbage garbage garbage"), good},
		{"truncated mmdb", city, good[:len(good)-40], good},
		{"bad csv", asn, []byte("192.0.2.0,nonsense,1,x\n"), goodCSV},
	} {
		geotest.WriteFileAtomic(t, tc.path, tc.bad)
		if err := ev.waitError(t); err == nil {
			t.Fatalf("%s: nil error reported", tc.name)
		}
		if got := l.Lookup(addrDE); got != want {
			t.Errorf("%s: Lookup after failed reload = %+v, want previous %+v", tc.name, got, want)
		}
		geotest.WriteFileAtomic(t, tc.path, tc.good)
		if got := ev.waitReload(t).Lookup(addrDE); got != want {
			t.Errorf("%s: Lookup after repair = %+v, want %+v", tc.name, got, want)
		}
	}
}

func TestReloaderReportsOncePerChange(t *testing.T) {
	dir := t.TempDir()
	city := geotest.WriteMMDB(t, dir, "city.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25)})
	good, err := os.ReadFile(city)
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	l := NewReloader(Config{CityFiles: []string{city}}, ev.options())
	// poll is what Run does on every tick; calling it directly makes the
	// number of ticks exact without any timing.
	l.poll(context.Background())
	if len(ev.reloads) != 1 || len(ev.errs) != 0 {
		t.Fatalf("first poll: %d reloads, %d errors; want 1 load", len(ev.reloads), len(ev.errs))
	}
	<-ev.reloads
	l.poll(context.Background())
	if len(ev.reloads) != 0 || len(ev.errs) != 0 {
		t.Fatalf("poll of unchanged files: %d reloads, %d errors; want none", len(ev.reloads), len(ev.errs))
	}

	geotest.WriteFileAtomic(t, city, []byte("garbage"))
	for range 3 {
		l.poll(context.Background())
	}
	if len(ev.errs) != 1 || len(ev.reloads) != 0 {
		t.Fatalf("three polls of a bad file: %d errors, %d reloads; want exactly 1 error", len(ev.errs), len(ev.reloads))
	}
	<-ev.errs
	if got := l.Lookup(addrDE); got.Country != "DE" {
		t.Errorf("Lookup after failed reload = %+v, want DE", got)
	}

	geotest.WriteFileAtomic(t, city, good)
	l.poll(context.Background())
	if len(ev.reloads) != 1 || len(ev.errs) != 0 {
		t.Fatalf("poll after repair: %d reloads, %d errors; want 1 reload", len(ev.reloads), len(ev.errs))
	}
}

func TestReloaderConcurrentLookups(t *testing.T) {
	dir := t.TempDir()
	v1 := geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25), "2001:db8::/32": geotest.DBIPCity("JP", 35.5, 139.75)}
	v2 := geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("NL", 52.25, 4.75), "2001:db8::/32": geotest.DBIPCity("KR", 37.5, 127)}
	path := geotest.WriteMMDB(t, dir, "city.mmdb", 6, v1)
	ev := newEvents()
	l := NewReloader(Config{CityFiles: []string{path}}, ev.options())
	if err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-ev.reloads
	runReloader(t, l, time.Millisecond)

	var stop atomic.Bool
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				for _, a := range []netip.Addr{addrDE, addrJP} {
					if got := l.Lookup(a); !got.Known || !got.HasCoords {
						bad.Add(1)
					}
				}
			}
		})
	}
	for i := range 20 {
		data := v1
		if i%2 == 0 {
			data = v2
		}
		geotest.WriteMMDB(t, dir, "city.mmdb", 6, data)
		ev.waitReload(t)
	}
	stop.Store(true)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d lookups of known addresses returned unknown during reloads", n)
	}
}

func TestReloaderNoFiles(t *testing.T) {
	l := NewReloader(Config{}, ReloaderOptions{})
	if err := l.Reload(context.Background()); err != nil {
		t.Fatalf("Reload with no files: %v", err)
	}
	if got := l.Lookup(addrDE); got != (Info{}) {
		t.Errorf("Lookup = %+v, want zero Info", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want DeadlineExceeded", err)
	}
	if err := l.Run(context.Background(), 0); err == nil {
		t.Error("Run with zero interval succeeded")
	}
}

func TestReloadCancelled(t *testing.T) {
	dir := t.TempDir()
	city := geotest.WriteMMDB(t, dir, "city.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Config{CityFiles: []string{city}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled context = %v, want context.Canceled", err)
	}
	l := NewReloader(Config{CityFiles: []string{city}}, ReloaderOptions{})
	if err := l.Reload(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Reload with cancelled context = %v, want context.Canceled", err)
	}
	if got := l.Lookup(addrDE); got != (Info{}) {
		t.Errorf("Lookup after cancelled first load = %+v, want zero", got)
	}
	// The cancelled attempt must not count as having seen the files.
	if err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := l.Lookup(addrDE); got.Country != "DE" {
		t.Errorf("Lookup = %+v, want DE", got)
	}
}
