package redirector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/selection"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

// loadState is n mirrors across 30 countries holding every one of files
// catalog files.
func loadState(tb testing.TB, n, files int) (*State, []string) {
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
	return NewState(t, snap, entries, nil), paths
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
// -benchtime 1x: each case runs wrk for WRK_SECONDS (default 10) seconds.
func BenchmarkRedirectWrk(b *testing.B) {
	bin := testutil.RequireTool(b, "wrk")
	d := 10 * time.Second
	fixed := serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://m001.example.org/pub/x.iso")
		w.WriteHeader(http.StatusFound)
	}))
	rps, p50, p99 := wrkRun(b, bin, fixed+"/pub/pool/p0001/package-000001-1.0.x86_64.rpm", d)
	limit := rps
	b.Logf("fixed 302 (limit): %.0f req/s, p50 %s, p99 %s", rps, p50, p99)
	b.ReportMetric(rps, "limit-req/s")
	for _, n := range []int{3, 300} {
		st, paths := loadState(b, n, 10000)
		srv, err := New(Config{Locate: func(netip.Addr) Location {
			return Location{Country: "BR", Continent: "SA", Lat: -23.5, Lon: -46.6, HasCoords: true}
		}})
		if err != nil {
			b.Fatal(err)
		}
		srv.SetState(st)
		url := serve(b, srv) + paths[1234]
		rps, p50, p99 := wrkRun(b, bin, url, d)
		b.Logf("redirector, %d mirrors: %.0f req/s (%.0f%% of the limit), p50 %s, p99 %s", n, rps, 100*rps/limit, p50, p99)
		b.ReportMetric(rps, fmt.Sprintf("mirrors%d-req/s", n))
		b.ReportMetric(100*rps/limit, fmt.Sprintf("mirrors%d-%%limit", n))
	}
}
