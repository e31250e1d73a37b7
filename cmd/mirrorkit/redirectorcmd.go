package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/clientip"
	"github.com/mirrorkit/mirrorkit/internal/geo"
	"github.com/mirrorkit/mirrorkit/internal/pages"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/redirector"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// geoLocator loads the configured geo files (a file that fails to load at
// start is an error) and keeps them current; nil when none are configured.
func (a *app) geoLocator(ctx context.Context) (func(netip.Addr) redirector.Location, error) {
	g := a.cfg.Geo
	cfg := geo.Config{CityFiles: g.CityFiles, ASNFiles: g.ASNFiles}
	if cfg.Empty() {
		a.log.Info("no geo data configured: mirrors are chosen by weight alone")
		return nil, nil
	}
	rl := geo.NewReloader(cfg, geo.ReloaderOptions{OnError: func(err error) {
		a.log.Warn("geo data reload failed; keeping the previous data", "err", err)
	}})
	if err := rl.Reload(ctx); err != nil {
		return nil, fmt.Errorf("geo data: %w", err)
	}
	go func() { _ = rl.Run(ctx, time.Duration(g.ReloadInterval)) }()
	return func(addr netip.Addr) redirector.Location {
		i := rl.Lookup(addr)
		if !i.Known {
			return redirector.Location{ASN: i.ASN}
		}
		return redirector.Location{Country: i.Country, Continent: i.Continent, Lat: i.Lat, Lon: i.Lon, HasCoords: i.HasCoords, ASN: i.ASN}
	}, nil
}

func (a *app) redirectorCommand() *cobra.Command {
	var listen, origin string
	cmd := &cobra.Command{
		Use:   "redirector [--listen ADDR] [--origin DIR]",
		Short: "Serve downloads: redirect each to the best mirror holding the current file",
		Long: `Answer GET and HEAD for every catalog file with a redirect to the nearest
healthy mirror that holds its current version (with the next best ones in
Link headers and the file's digest), serve repository metadata and tiny files
from the origin, and fall back to the origin or configured fallback mirrors
when no mirror qualifies. State comes from the store (registry, catalog,
scans) and is refreshed every redirector.refresh_interval; redirects are
answered from memory and keep working if the store goes away.`,
		Args: exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			c := a.cfg.Redirector
			if cmd.Flags().Changed("listen") {
				c.Listen = listen
			}
			if cmd.Flags().Changed("origin") {
				c.Origin = origin
			}
			clients, err := clientip.New(c.TrustedProxies)
			if err != nil {
				return err
			}
			pol, err := c.Policy()
			if err != nil {
				return err
			}
			locate, err := a.geoLocator(cmd.Context())
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			metrics := redirector.NewMetrics(reg)
			// health is set below, before the server answers anyone.
			var health *redirector.Health
			probeHistory := func(name string) []probe.Result {
				if health == nil {
					return nil
				}
				return health.History(name)
			}
			srv, err := redirector.New(redirector.Config{Origin: c.Origin, Fallback: c.Fallback, Status: c.Status,
				Policy: pol, Clients: clients, AllowOverride: c.AllowOverride, Links: c.Links, Log: a.log, Locate: locate,
				Metrics: metrics, ScanHistory: st.Scans, ProbeHistory: probeHistory, PagesPrefix: "/mirrors/", StyleURL: pages.StyleURL("/mirrors/")})
			if err != nil {
				return err
			}
			defer srv.Close()
			svc, err := a.scanService(cmd.Context(), st)
			if err != nil {
				return err
			}
			loader := &redirector.Loader{Store: st, Scans: svc, Server: srv, Embargoed: a.cfg.Registry.EmbargoedCountries, Log: a.log,
				MaxLag: a.cfg.Probe.MaxLags(), Now: a.now}
			var runner *probe.Runner
			if p := a.cfg.Probe; p.Enabled {
				tracker := &probe.Tracker{DownAfter: p.DownAfter, UpAfter: p.UpAfter}
				loader.Health = &redirector.Health{Tracker: tracker, TraceFiles: a.cfg.Scan.TraceFiles, Changed: loader.Kick, Metrics: metrics,
					Rescan: func(ctx context.Context, m registry.Mirror) error {
						a.log.Info("mirror is back up; rescanning it before it gets clients", "mirror", m.Name)
						_, err := svc.ScanMirror(ctx, m)
						return err
					}}
				loader.Health.Start(cmd.Context())
				health = loader.Health
				runner = &probe.Runner{Prober: &probe.Prober{Timeout: time.Duration(p.Timeout), Now: a.now}, Tracker: tracker,
					Interval: time.Duration(p.Interval), Concurrency: p.Concurrency, Targets: loader.Health.Targets,
					Observe: metrics.ObserveProbe, RoundDone: metrics.ObserveProbeRound}
			}
			if err := loader.Refresh(cmd.Context()); err != nil {
				return err
			}
			go loader.Run(cmd.Context(), time.Duration(c.RefreshInterval))
			if runner != nil {
				go runner.Run(cmd.Context())
			}

			if c.MetricsListen != "" {
				stop, err := a.serveMetrics(cmd.Context(), c.MetricsListen, reg)
				if err != nil {
					return err
				}
				defer stop()
			}
			ln, err := net.Listen("tcp", c.Listen)
			if err != nil {
				return err
			}
			// The public pages live under /mirrors/; every other path is
			// the redirector's (downloads, lists, metalinks, /api/).
			po := pages.Options{APIURL: "/api/v1/mirrors", History: srv.MirrorHistory}
			for _, f := range a.cfg.Geo.CityFiles {
				if strings.Contains(strings.ToLower(filepath.Base(f)), "dbip") {
					po.GeoCredit, po.GeoCreditURL = pages.DBIPCredit, pages.DBIPCreditURL // DB-IP's licence asks for it
				}
			}
			pg, err := pages.New(srv.Network, po)
			if err != nil {
				return err
			}
			// A plain prefix switch, not http.ServeMux: the mux would answer
			// "..", which the redirector refuses with 400, with a redirect.
			mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p := r.URL.Path; p == "/mirrors" || strings.HasPrefix(p, "/mirrors/") {
					pg.ServeHTTP(w, r)
					return
				}
				srv.ServeHTTP(w, r)
			})
			hs := &http.Server{
				Handler: redirector.Instrument(mux, reg),
				// Every connection is bounded: slow or idle clients cannot
				// hold sockets, and headers cannot grow without limit.
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      10 * time.Minute, // files served from the origin
				IdleTimeout:       2 * time.Minute,
				MaxHeaderBytes:    16 << 10,
			}
			errc := make(chan error, 1)
			go func() {
				if c.TLSCert != "" {
					errc <- hs.ServeTLS(ln, c.TLSCert, c.TLSKey)
				} else {
					errc <- hs.Serve(ln)
				}
			}()
			a.log.Info("redirector listening", "addr", ln.Addr().String(), "tls", c.TLSCert != "",
				"catalog_files", svc.Inventory.Snapshot().Files())
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			shutdown, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
			defer cancel()
			if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			a.log.Info("redirector stopped")
			return nil
		}),
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (config redirector.listen)")
	cmd.Flags().StringVar(&origin, "origin", "", "local copy of the tree (config redirector.origin)")
	return cmd
}
