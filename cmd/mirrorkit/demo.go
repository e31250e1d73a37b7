package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/buildinfo"
	"github.com/mirrorkit/mirrorkit/internal/config"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/rsync/rsyncd"
	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/syncer"
)

func (a *app) demoCommand() *cobra.Command {
	var keep, listen string
	cmd := &cobra.Command{
		Use:   "demo [--listen ADDR] [--keep DIR]",
		Short: "Run a whole mirror network on this machine: origin, mirrors, sync, scans, redirector",
		Long: `Build a small origin tree (releases with sparse ISO images, a package
repository with metadata, a staged release), serve it from a loopback rsync
daemon, and start four mirrors with 'mirrorkit serve' on free loopback ports:
Frankfurt and Ashburn carry everything, Tokyo only the releases, and São Paulo
is deliberately left one sync behind. The mirrors are synced with the real
rsync in two stages, registered in an embedded SQLite store, scanned and
probed, and the redirector answers on --listen. A geo database made for the
demo places documentation addresses in four countries; pick where you are with
X-Forwarded-For (the demo trusts itself as a proxy) or ?country=.

Ctrl-C stops everything and leaves nothing running. Without --keep the files
live in a temporary directory that is removed at the end.`,
		Args:        exactArgs(),
		Annotations: map[string]string{noConfig: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), keep, listen)
		},
	}
	cmd.Flags().StringVar(&keep, "keep", "", "keep the files (trees, store, logs) in DIR instead of a temporary directory")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "where the redirector listens")
	return cmd
}

// demoMirror is one mirror of the demo network.
type demoMirror struct {
	name, city, cc string
	lat, lon       float64
	subtrees       []string // a partial mirror carries only these
	behind         bool     // not synced after the origin's update
	dir, addr      string
}

// demoClient is a place a demo client can claim with X-Forwarded-For.
type demoClient struct{ where, addr string }

var demoClients = []demoClient{
	{"Berlin, DE", "192.0.2.10"}, {"New York, US", "198.51.100.10"},
	{"Osaka, JP", "203.0.113.10"}, {"Rio de Janeiro, BR", "10.1.2.3"},
}

func (a *app) runDemo(ctx context.Context, keep, listen string) (err error) {
	dir, cleanup, err := demoDir(keep)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, err := config.Parse("", nil, nil)
	if err != nil {
		return err
	}
	a.cfg = cfg
	// The demo's own chatter goes to a log file; the terminal gets the story.
	logFile, err := os.Create(filepath.Join(dir, "demo.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	a.log = slog.New(slog.NewTextHandler(logFile, nil))
	say := func(format string, args ...any) { fmt.Fprintf(a.stdout, format+"\n", args...) }

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	background := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	origin := filepath.Join(dir, "origin")
	say("Building the origin tree in %s", origin)
	if err := writeDemoOrigin(origin, 1); err != nil {
		return err
	}
	// The rsync daemon (as root: as nobody) must traverse to the trees.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	upPort, err := freePort()
	if err != nil {
		return err
	}
	rc := rsyncd.Defaults(origin, filepath.Join(dir, "state", "upstream"), os.Geteuid() == 0)
	rc.Address, rc.Port, rc.LogFile = "127.0.0.1", upPort, filepath.Join(dir, "upstream-rsyncd.log")
	sup, err := rsyncd.NewSupervisor(rc, rsyncd.Options{Logger: a.log})
	if err != nil {
		return err
	}
	background("upstream rsync daemon", func() error { return sup.Run(ctx) })
	if err := sup.WaitReady(ctx); err != nil {
		return fmt.Errorf("upstream rsync daemon: %w", err)
	}
	upstream := fmt.Sprintf("rsync://127.0.0.1:%d/pub/", upPort)
	say("Upstream: %s (the real rsync daemon)", upstream)

	mirrors := []*demoMirror{
		{name: "frankfurt", city: "Frankfurt", cc: "DE", lat: 50.11, lon: 8.68},
		{name: "ashburn", city: "Ashburn", cc: "US", lat: 39.04, lon: -77.49},
		{name: "tokyo", city: "Tokyo", cc: "JP", lat: 35.68, lon: 139.69, subtrees: []string{"releases/"}},
		{name: "saopaulo", city: "São Paulo", cc: "BR", lat: -23.55, lon: -46.63, behind: true},
	}
	syncMirror := func(m *demoMirror) error {
		job := a.cfg.Sync.Job(m.name, config.SyncJob{Upstream: upstream, Dest: m.dir, UpstreamTrace: "TIME", Subtrees: m.subtrees})
		job.StateDir = filepath.Join(dir, "state", "sync")
		s, err := syncer.New(job, syncer.Options{Logger: a.log, Version: buildinfo.Get().Version})
		if err != nil {
			return err
		}
		res, err := s.Run(ctx, syncer.RunOptions{Trigger: "demo"})
		if err != nil {
			return fmt.Errorf("sync %s: %w", m.name, err)
		}
		say("  %-10s %s: %d added, %d changed, %d deleted", m.name, res.Outcome, res.Added, res.Changed, res.Deleted)
		return nil
	}
	say("Syncing four mirrors from it (two stages each):")
	for _, m := range mirrors {
		m.dir = filepath.Join(dir, "mirrors", m.name)
		if err := syncMirror(m); err != nil {
			return err
		}
	}
	// The catalog of version 1 first, so version 2 records what it replaced:
	// São Paulo will hold the previous version, not just something stale.
	a.cfg.Store.DSN = "sqlite:" + filepath.Join(dir, "mirrorkit.db")
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	if _, _, err := a.rebuildCatalog(ctx, st, origin); err != nil {
		return err
	}
	say("The origin publishes an update (a respun ISO, a new package, new repository metadata); all but São Paulo sync again:")
	if err := writeDemoOrigin(origin, 2); err != nil {
		return err
	}
	for _, m := range mirrors {
		if !m.behind {
			if err := syncMirror(m); err != nil {
				return err
			}
		}
	}

	for _, m := range mirrors {
		port, err := freePort()
		if err != nil {
			return err
		}
		m.addr = fmt.Sprintf("127.0.0.1:%d", port)
		sc := a.cfg.Serve
		sc.Root, sc.Listen, sc.MetricsListen, sc.RsyncPort = m.dir, m.addr, "", 0
		sc.StateDir, sc.MaxConnsPerIP = filepath.Join(dir, "state", "serve-"+m.name), 0
		background("serve "+m.name, func() error { return a.serve(ctx, sc) })
	}
	for _, m := range mirrors {
		if err := awaitHTTP(ctx, "http://"+m.addr+"/"); err != nil {
			return fmt.Errorf("mirror %s: %w", m.name, err)
		}
	}
	say("Mirrors serving with 'mirrorkit serve': %s", demoAddrs(mirrors))

	if _, _, err := a.rebuildCatalog(ctx, st, origin); err != nil {
		return err
	}
	if err := registerDemo(ctx, st, mirrors); err != nil {
		return err
	}
	svc, err := a.scanService(ctx, st)
	if err != nil {
		return err
	}
	say("Catalog built, mirrors registered and scanned:")
	for _, m := range mirrors {
		rm, err := st.Mirror(ctx, m.name)
		if err != nil {
			return err
		}
		res, err := svc.ScanMirror(ctx, rm)
		if err != nil {
			return fmt.Errorf("scan %s: %w", m.name, err)
		}
		say("  %-10s %d current, %d stale (%d previous version), %d missing: %.0f%% complete", m.name,
			res.Current, res.Stale, res.Previous, res.Missing, res.Completion)
	}

	city, err := writeDemoGeo(filepath.Join(dir, "geo"))
	if err != nil {
		return err
	}
	r := &a.cfg.Redirector
	r.Listen, r.Origin, r.MetricsListen, r.AllowOverride = listen, origin, "", true
	r.TrustedProxies = []string{"127.0.0.0/8", "::1"}
	r.RefreshInterval = config.Duration(5 * time.Second)
	a.cfg.Geo.CityFiles = []string{city}
	a.cfg.Probe.Interval = config.Duration(10 * time.Second)
	redir := a.redirectorCommand()
	redir.SetContext(ctx)
	background("redirector", func() error { return redir.RunE(redir, nil) })
	if err := awaitHTTP(ctx, "http://"+listen+"/"); err != nil {
		return fmt.Errorf("redirector: %w", err)
	}

	iso := "/releases/41/iso/Demo-41-x86_64.iso"
	base := "http://" + listen
	say(`
The network is up. The redirector: %s/

Where would you be sent? The demo trusts itself as a proxy, so X-Forwarded-For
picks your place (%s):
`, base, demoPlaces())
	for _, c := range demoClients {
		say("  curl -sI -H 'X-Forwarded-For: %s' %s%s | grep -i '^location'   # from %s", c.addr, base, iso, c.where)
	}
	say(`
São Paulo still has the old ISO, so Rio is sent elsewhere for it; Tokyo carries
only releases/, so Osaka gets the repository from someone else:
  curl -sI -H 'X-Forwarded-For: 10.1.2.3' %[1]s/repo/x86_64/Packages/demo-tools-1.1-1.x86_64.rpm | grep -i '^location'

Every mirror holding a file, in your order, and who is left out and why:
  %[1]s%[2]s?mirrorlist
  curl -s '%[1]s%[2]s?mirrorlist&json'
The mirrors, their state and a map:   %[1]s/mirrors/
The same as JSON:   curl -s %[1]s/api/v1/mirrors   (OpenAPI: %[1]s/api/v1/openapi.json)
A metalink for aria2c:   aria2c %[1]s%[2]s.meta4
Repository metadata is served by the redirector itself:
  curl -s %[1]s/repo/x86_64/repodata/repomd.xml
The staged release is invisible until its bit flip:
  curl -sI %[1]s/releases/42/iso/Demo-42-x86_64.iso

Files are in %[3]s. Press Ctrl-C to stop.`, base, iso, dir)

	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	say("\nStopped; nothing left running.")
	return nil
}

// demoDir is the directory the demo works in: --keep DIR (new or empty), or
// a temporary one removed at the end.
func demoDir(keep string) (string, func(), error) {
	if keep == "" {
		tmp, err := os.MkdirTemp("", "mirrorkit-demo-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	if entries, err := os.ReadDir(keep); err == nil && len(entries) > 0 {
		return "", nil, usagef("%s is not empty; give --keep an empty or new directory", keep)
	}
	abs, err := filepath.Abs(keep)
	if err != nil {
		return "", nil, err
	}
	return abs, func() {}, os.MkdirAll(abs, 0o755)
}

func demoAddrs(ms []*demoMirror) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, m.name+" http://"+m.addr+"/")
	}
	return strings.Join(parts, ", ")
}

func demoPlaces() string {
	var parts []string
	for _, c := range demoClients {
		parts = append(parts, c.addr+" is "+c.where)
	}
	return strings.Join(parts, "; ")
}

// awaitHTTP waits until url answers at all.
func awaitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 30 s: %w", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// registerDemo registers the mirrors, each with its place and HTTP URL.
func registerDemo(ctx context.Context, st store.Store, ms []*demoMirror) error {
	if _, err := st.CreateSite(ctx, registry.Site{Name: "demo", Sponsor: "The mirrorkit demo", SponsorURL: "https://github.com/mirrorkit/mirrorkit"}); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	for _, d := range ms {
		m := registry.NewMirror(d.name, "demo")
		lat, lon := d.lat, d.lon
		m.Location = registry.Location{Country: d.cc, City: d.city, Latitude: &lat, Longitude: &lon}
		m.URLs = registry.URLs{HTTP: "http://" + d.addr + "/"}
		m.Tier, m.BandwidthMbps = 1, 10000
		for _, s := range d.subtrees {
			m.Content = append(m.Content, "/"+s)
		}
		_, hash, err := registry.NewReportToken()
		if err != nil {
			return err
		}
		m.TokenHash = hash
		if _, err := st.CreateMirror(ctx, m); err != nil {
			return fmt.Errorf("demo mirror %s: %w", d.name, err)
		}
	}
	return nil
}
