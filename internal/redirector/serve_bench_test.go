package redirector

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkServeRedirect is one redirect through the handler (no network),
// with 300 mirrors holding the file: the per-request work and allocations
// the wrk benchmark measures end to end.
func BenchmarkServeRedirect(b *testing.B) { benchRedirect(b, nil) }

// BenchmarkServeRedirectMetrics is BenchmarkServeRedirect with metrics on:
// counting a redirect (outcome, mirror, country) must add no allocation.
func BenchmarkServeRedirectMetrics(b *testing.B) {
	benchRedirect(b, NewMetrics(prometheus.NewRegistry()))
}

func benchRedirect(b *testing.B, m *Metrics) {
	st, _, _, paths := loadState(b, 300, 10000)
	srv, err := New(Config{Metrics: m, Locate: func(netip.Addr) Location {
		return Location{Country: "BR", Continent: "SA", Lat: -23.5, Lon: -46.6, HasCoords: true}
	}})
	if err != nil {
		b.Fatal(err)
	}
	srv.SetState(st)
	req := httptest.NewRequest("GET", paths[1234], nil)
	req.RemoteAddr = "203.0.113.7:5000"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusFound {
			b.Fatal(rec.Code)
		}
	}
}
