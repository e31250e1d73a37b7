package redirector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/rsyncscan"
	"github.com/mirrorkit/mirrorkit/internal/selection"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// loadState is n mirrors across 30 countries holding every one of files
// catalog files.
func loadState(tb testing.TB, n, files int) (*State, *inventory.Inventory, []catalog.Entry, []string) {
	inv := inventory.New()
	var invFiles []inventory.File
	var entries []catalog.Entry
	var paths []string
	for i := 1; i <= files; i++ {
		p := fmt.Sprintf("/pub/pool/p%04d/package-%06d-1.0.x86_64.rpm", i%1000, i)
		invFiles = append(invFiles, inventory.File{ID: inventory.FileID(i), Path: p, Size: 1 << 20, ModTime: mt})
		entries = append(entries, catalog.Entry{ID: uint32(i), Path: p, Type: scan.File, Size: 1 << 20, ModTime: mt,
			Hashes: catalog.Hashes{SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}})
		paths = append(paths, p)
	}
	if _, err := inv.SetCatalog(invFiles); err != nil {
		tb.Fatal(err)
	}
	ccs := []string{"DE", "FR", "US", "JP", "BR", "NZ", "AU", "GB", "NL", "SE", "CA", "MX", "IN", "CN", "ZA",
		"EG", "AR", "CL", "ES", "IT", "PL", "CZ", "RU", "KR", "TW", "SG", "ID", "KE", "NG", "FI"}
	r := rand.New(rand.NewPCG(5, 5))
	var cols []*inventory.Column
	var ms []registry.Mirror
	for i := 1; i <= n; i++ {
		m := registry.NewMirror(fmt.Sprintf("m%03d", i), "site")
		m.ID = int64(i)
		m.URLs = registry.URLs{HTTP: fmt.Sprintf("http://m%03d.example.org/pub/", i), HTTPS: fmt.Sprintf("https://m%03d.example.org/pub/", i)}
		cc := ccs[i%len(ccs)]
		cont, _ := country.ContinentOf(cc)
		lat, lon := r.Float64()*140-70, r.Float64()*340-170
		m.Location = registry.Location{Country: cc, Continent: string(cont), Latitude: &lat, Longitude: &lon}
		ms = append(ms, m)
		col := inv.NewColumn(m.ID)
		for _, f := range invFiles {
			col.Credit(f.ID)
		}
		col.Finish(nil)
		cols = append(cols, col)
	}
	if _, err := inv.Commit(cols...); err != nil {
		tb.Fatal(err)
	}
	snap := inv.Snapshot()
	var sm []selection.Mirror
	for _, m := range ms {
		slot, _ := snap.Slot(m.ID)
		sm = append(sm, selection.Mirror{Mirror: m, Slot: slot, State: selection.State{Fresh: true}})
	}
	t, err := selection.NewTable(sm)
	if err != nil {
		tb.Fatal(err)
	}
	return NewState(t, snap, NewCatalog(entries), nil), inv, entries, paths
}

// wrkRun runs wrk for d and returns requests/s and the p50 and p99 latency.
func wrkRun(tb testing.TB, bin, url string, d time.Duration) (rps float64, p50, p99 string) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t2", "-c50", "-d"+d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindSubmatch(out); m != nil {
		tb.Fatalf("wrk saw errors:\n%s", out)
	}
	m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindSubmatch(out)
	if m == nil {
		tb.Fatalf("no Requests/sec in wrk output:\n%s", out)
	}
	rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := regexp.MustCompile(`\s50%\s+(\S+)`).FindSubmatch(out); m != nil {
		p50 = string(m[1])
	}
	if m := regexp.MustCompile(`\s99%\s+(\S+)`).FindSubmatch(out); m != nil {
		p99 = string(m[1])
	}
	return rps, p50, p99
}

func serve(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkRedirectWrk measures, side by side in one run, redirects per second
// with wrk -t2 -c50 for a minimal net/http server that answers every request
// with a fixed 302 (the limit of this machine and Go's HTTP stack) and for
// the redirector with 3 and with 300 mirrors holding the file. Run with
// -benchtime 1x: each case runs wrk for 10 seconds. The limit is measured
// before and after every case and the case compared with their mean, so the
// shared machine's drift during a run does not land on one case.
func BenchmarkRedirectWrk(b *testing.B) {
	bin := testutil.RequireTool(b, "wrk")
	d := 10 * time.Second
	fixed := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://m001.example.org/pub/x.iso")
		w.WriteHeader(http.StatusFound)
	}))
	before := 0.0
	// limit measures the fixed 302 again and returns the mean of it and the
	// previous measurement: the limit for the case that ran in between.
	limit := func() float64 {
		rps, p50, p99 := wrkRun(b, bin, fixed+"/pub/pool/p0001/package-000001-1.0.x86_64.rpm", d)
		b.Logf("fixed 302 (limit): %.0f req/s, p50 %s, p99 %s", rps, p50, p99)
		mean := (before + rps) / 2
		before = rps
		return mean
	}
	b.ReportMetric(limit()*2, "limit-req/s")
	for _, n := range []int{3, 300} {
		st, _, _, paths := loadState(b, n, 10000)
		srv, err := New(Config{Locate: func(netip.Addr) Location {
			return Location{Country: "BR", Continent: "SA", Lat: -23.5, Lon: -46.6, HasCoords: true}
		}})
		if err != nil {
			b.Fatal(err)
		}
		srv.SetState(st)
		url := serve(b, srv) + paths[1234]
		rps, p50, p99 := wrkRun(b, bin, url, d)
		limit := limit()
		b.Logf("redirector, %d mirrors: %.0f req/s (%.0f%% of the limit), p50 %s, p99 %s", n, rps, 100*rps/limit, p50, p99)
		b.ReportMetric(rps, fmt.Sprintf("mirrors%d-req/s", n))
		b.ReportMetric(100*rps/limit, fmt.Sprintf("mirrors%d-%%limit", n))
	}

	// The same while a 100,000-file mirror is rescanned in a loop, for real:
	// the rsync scanner lists it from the loopback daemon, the listing is
	// folded and committed, and a new state is published, round after round.
	// The daemon stands for the mirror, which in real life lists the tree on
	// a machine of its own. It runs twice: at normal priority (the mirror's
	// work lands on this machine too, the harshest case), and at nice 19,
	// where it gets only the CPU the redirector and wrk leave idle.
	tree, files := rescanTree(b, 100_000)
	sc := rsyncscan.New(rsyncscan.Options{Timeout: time.Minute})
	targets := map[int]scan.Target{}
	for _, nice := range []int{0, 19} {
		d := rsyncd.StartConfig(b, rsyncd.Config{Nice: nice, Modules: []rsyncd.Module{{Name: "pub", Path: tree}}})
		targets[nice] = scan.Target{URL: d.URL("pub"), Timeout: time.Minute}
	}
	target := targets[0]
	inv := inventory.New()
	var entries []catalog.Entry
	var invFiles []inventory.File
	err := sc.Scan(context.Background(), target, func(e scan.Entry) error {
		if e.Type == scan.File {
			id := uint32(len(invFiles) + 1)
			invFiles = append(invFiles, inventory.File{ID: inventory.FileID(id), Path: e.Path, Size: e.Size, ModTime: e.ModTime})
			entries = append(entries, catalog.Entry{ID: id, Path: e.Path, Type: scan.File, Size: e.Size, ModTime: e.ModTime})
		}
		return nil
	})
	if err != nil || len(invFiles) != files {
		b.Fatalf("first listing: %d files, %v", len(invFiles), err)
	}
	if _, err := inv.SetCatalog(invFiles); err != nil {
		b.Fatal(err)
	}
	cat := NewCatalog(entries)
	rescan := func(target scan.Target) *inventory.Snapshot {
		col := inv.NewColumn(1)
		if err := sc.Scan(context.Background(), target, func(e scan.Entry) error {
			if e.Type == scan.File {
				col.Add(e.Path, e.Size, e.ModTime, e.Precision)
			}
			return nil
		}); err != nil {
			b.Error(err)
		}
		col.Finish(nil)
		snap, err := inv.Commit(col)
		if err != nil {
			b.Fatal(err)
		}
		return snap
	}
	snap := rescan(target)
	mirror := registry.NewMirror("m001", "site")
	mirror.ID, mirror.URLs.HTTP = 1, "http://m001.example.org/pub/"
	lat, lon := 50.1, 8.7
	mirror.Location = registry.Location{Country: "DE", Continent: "EU", Latitude: &lat, Longitude: &lon}
	slot, _ := snap.Slot(1)
	table, err := selection.NewTable([]selection.Mirror{{Mirror: mirror, Slot: slot, State: selection.State{Fresh: true}}})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Locate: func(netip.Addr) Location {
		return Location{Country: "BR", Continent: "SA", Lat: -23.5, Lon: -46.6, HasCoords: true}
	}})
	if err != nil {
		b.Fatal(err)
	}
	srv.SetState(NewState(table, snap, cat, nil))
	url := serve(b, srv) + invFiles[54321].Path
	for _, nice := range []int{0, 19} {
		stop := make(chan struct{})
		rounds := make(chan int)
		go func() {
			n := 0
			defer func() { rounds <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				srv.SetState(NewState(table, rescan(targets[nice]), cat, nil))
				n++
			}
		}()
		rps, p50, p99 := wrkRun(b, bin, url, d)
		close(stop)
		n := <-rounds
		lim := limit()
		b.Logf("redirector, 100k-file mirror (daemon at nice %d) rescanned over rsync in a loop (%d rescans): %.0f req/s (%.0f%% of the limit), p50 %s, p99 %s",
			nice, n, rps, 100*rps/lim, p50, p99)
		b.ReportMetric(100*rps/lim, fmt.Sprintf("rescanning-nice%d-%%limit", nice))
	}
}

// rescanTree is n files in directories of 300, hardlinked so that building
// it is quick.
func rescanTree(b *testing.B, n int) (string, int) {
	root := filepath.Join(b.TempDir(), "tree")
	for d := 0; d*300 < n; d++ {
		sub := filepath.Join(root, fmt.Sprintf("pool/%02d/pkg%04d", d%100, d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		src := filepath.Join(sub, "package-0.rpm")
		if err := os.WriteFile(src, make([]byte, 1024+d), 0o644); err != nil {
			b.Fatal(err)
		}
		for f := 1; f < 300 && d*300+f < n; f++ {
			if err := os.Link(src, filepath.Join(sub, fmt.Sprintf("package-%04d-%03d.rpm", d, f))); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root, n
}
