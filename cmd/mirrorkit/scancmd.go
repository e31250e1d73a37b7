package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/ftpscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/httpscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/rsyncscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/schedule"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// scanService wires the real scanners, the store and a fresh inventory loaded
// from it.
func (a *app) scanService(ctx context.Context, st store.Store) (*schedule.Service, error) {
	c := a.cfg.Scan
	io := time.Duration(c.IOTimeout)
	svc := &schedule.Service{
		Store:     st,
		Inventory: inventory.New(),
		Scanners: map[registry.Protocol]scan.Scanner{
			registry.RSYNC: rsyncscan.New(rsyncscan.Options{Timeout: io}),
			registry.FTP:   ftpscan.New(ftpscan.Options{Timeout: io}),
			registry.HTTPS: httpscan.New(httpscan.Options{Protocol: registry.HTTPS, RequestsPerSecond: float64(c.HTTPRate)}),
			registry.HTTP:  httpscan.New(httpscan.Options{Protocol: registry.HTTP, RequestsPerSecond: float64(c.HTTPRate)}),
		},
		Timeout:    time.Duration(c.Timeout),
		IOTimeout:  io,
		TraceFiles: c.TraceFiles,
		MaxAge:     time.Duration(c.MaxAge),
		Log:        a.log,
		Now:        a.now,
	}
	if c.PasswordsFile != "" {
		pw, err := schedule.ReadPasswords(c.PasswordsFile)
		if err != nil {
			return nil, err
		}
		svc.Passwords = pw
	}
	if err := svc.Load(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// lastScan says how a mirror's latest scan went, for `mirror list`.
func lastScan(r store.ScanRecord, ok bool, now time.Time) string {
	if !ok {
		return "never"
	}
	age := humanize.RelTime(r.FinishedAt, now, "ago", "from now")
	if r.OK {
		return "ok " + age
	}
	return "failed " + age
}

// scanRow is one line of `mirror scan` and `mirror scans`.
func scanRow(r store.ScanRecord, completion string) []string {
	if !r.OK {
		return []string{r.Mirror, dash(r.Protocol), "-", "-", "-", "-", "-", "-", r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String(), r.Error}
	}
	stale := strconv.Itoa(r.Stale)
	if r.Previous > 0 {
		stale += fmt.Sprintf(" (%d previous)", r.Previous)
	}
	return []string{r.Mirror, r.Protocol, strconv.Itoa(r.Entries), strconv.Itoa(r.Current), stale,
		strconv.Itoa(r.Missing), strconv.Itoa(r.Extra), completion, r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String(), "-"}
}

var scanHeader = []string{"mirror", "protocol", "entries", "current", "stale", "missing", "extra", "complete", "took", "error"}

func completionOf(r store.ScanRecord) string {
	st := inventory.Stats{Stale: r.Stale, Unverified: r.Unverified, Missing: r.Missing, Claimed: r.Claimed}
	return fmt.Sprintf("%.1f%%", st.Completion())
}

func (a *app) mirrorScan() *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "scan NAME... | --all",
		Short: "Scan mirrors now: learn which catalog files they really hold",
		Long: `Scan mirrors now: list each one over the first protocol that works (rsync,
then FTP, then HTTPS, then HTTP), compare the listing with the catalog, and
record the result. A scan that fails on every protocol is recorded and changes
nothing else: the mirror keeps the holdings of its last good scan.
Exits 1 when any scan failed.`,
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			if all == (len(args) > 0) {
				return usagef("give mirror names or --all, not both or neither")
			}
			var mirrors []registry.Mirror
			if all {
				ms, err := st.Mirrors(cmd.Context())
				if err != nil {
					return err
				}
				for _, m := range ms {
					if m.Enabled {
						mirrors = append(mirrors, m)
					}
				}
			} else {
				for _, name := range args {
					m, err := st.Mirror(cmd.Context(), name)
					if err != nil {
						return err
					}
					mirrors = append(mirrors, m)
				}
			}
			svc, err := a.scanService(cmd.Context(), st)
			if err != nil {
				return err
			}
			results := a.scanAll(cmd.Context(), svc, mirrors)
			if asJSON {
				return a.printJSON(results)
			}
			rows := make([][]string, len(results))
			failed := 0
			for i, r := range results {
				rows[i] = scanRow(r.ScanRecord, fmt.Sprintf("%.1f%%", r.Completion))
				if !r.OK {
					failed++
				}
			}
			if err := a.table(scanHeader, rows); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d scans failed; each mirror keeps the holdings of its last good scan", failed, len(results))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "scan every enabled mirror")
	jsonFlag(cmd, &asJSON, "the results")
	return cmd
}

// scanAll scans with the configured concurrency, keeping the input order in
// the results; a progress bar counts mirrors on a terminal.
func (a *app) scanAll(ctx context.Context, svc *schedule.Service, mirrors []registry.Mirror) []schedule.Result {
	results := make([]schedule.Result, len(mirrors))
	bar := a.progressBar(int64(len(mirrors)), "scanning mirrors", false)
	sem := make(chan struct{}, max(1, a.cfg.Scan.Concurrency))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, m := range mirrors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, _ := svc.ScanMirror(ctx, m)
			if res.Mirror == "" {
				res.Mirror = m.Name
			}
			results[i] = res
			if bar != nil {
				mu.Lock()
				_ = bar.Add(1)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if bar != nil {
		_ = bar.Finish()
	}
	return results
}

func (a *app) mirrorScans() *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scans NAME",
		Short: "List a mirror's recent scans, newest first",
		Args:  exactArgs("NAME"),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, args []string) error {
			scans, err := st.Scans(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(scans)
			}
			return a.table(append([]string{"finished"}, scanHeader[1:]...), scanRows(scans))
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many scans")
	jsonFlag(cmd, &asJSON, "an array of scans")
	return cmd
}

func scanRows(scans []store.ScanRecord) [][]string {
	rows := make([][]string, len(scans))
	for i, s := range scans {
		row := scanRow(s, completionOf(s))
		row[0] = s.FinishedAt.Format(timeLayout)
		rows[i] = row
	}
	return rows
}

// serveMetrics serves /metrics until stop is called.
func (a *app) serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "err", err)
		}
	}()
	a.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}, nil
}

// catalogLoop rebuilds the catalog on an interval; the scheduler notices each
// new build and loads it before its next round.
func (a *app) catalogLoop(ctx context.Context, st store.Store, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		b, _, err := a.rebuildCatalog(ctx, st, a.cfg.Catalog.Origin)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("catalog rebuild failed; scans keep the previous catalog", "origin", a.cfg.Catalog.Origin, "err", err)
		} else if err == nil {
			a.log.Info("catalog rebuilt", "build", b.ID, "files", b.Files, "added", b.Added, "changed", b.Changed, "removed", b.Removed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *app) scannerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "scanner",
		Short: "Run the scan scheduler: every enabled mirror, on an interval, until stopped",
		Long: `Scan every enabled mirror every scan.interval (moved by up to scan.jitter),
at most scan.concurrency at once. A failing mirror is retried after a delay
that doubles with each failure, up to scan.max_backoff; it keeps the holdings
of its last good scan meanwhile. New catalog builds and registry changes are
picked up without a restart. With catalog.interval set, the catalog is rebuilt
from catalog.origin on that interval too. Stops cleanly on SIGINT or SIGTERM.`,
		Args: exactArgs(),
		RunE: a.withStore(func(cmd *cobra.Command, st store.Store, _ []string) error {
			svc, err := a.scanService(cmd.Context(), st)
			if err != nil {
				return err
			}
			c := a.cfg.Scan
			s := &schedule.Scheduler{
				Service: svc,
				Mirrors: func(ctx context.Context) ([]registry.Mirror, error) {
					// A newer catalog build (from `catalog build` anywhere) is loaded first.
					if reloaded, err := svc.ReloadIfNewCatalog(ctx); err != nil {
						a.log.Warn("catalog reload failed; keeping the previous one", "err", err)
					} else if reloaded {
						a.log.Info("catalog reloaded")
					}
					return st.Mirrors(ctx)
				},
				Interval: time.Duration(c.Interval), Jitter: time.Duration(c.Jitter), MaxBackoff: time.Duration(c.MaxBackoff),
				Concurrency: c.Concurrency, Rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			metrics := schedule.NewMetrics(reg, svc)
			s.OnResult = func(r schedule.Result, err error) {
				metrics.Observe(r, err)
				if err != nil && r.Mirror != "" {
					a.log.Warn("scan failed", "mirror", r.Mirror, "err", err)
				}
			}
			if l := c.MetricsListen; l != "" {
				stop, err := a.serveMetrics(cmd.Context(), l, reg)
				if err != nil {
					return err
				}
				defer stop()
			}
			a.log.Info("scanner started", "interval", c.Interval, "concurrency", c.Concurrency, "catalog_files", svc.Inventory.Snapshot().Files())
			if every := time.Duration(a.cfg.Catalog.Interval); every > 0 && a.cfg.Catalog.Origin != "" {
				go a.catalogLoop(cmd.Context(), st, every)
			}
			err = s.Run(cmd.Context())
			if errors.Is(err, context.Canceled) {
				a.log.Info("scanner stopped")
				return nil
			}
			return err
		}),
	}
}
