package redirector

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// scrape reads /metrics as Prometheus would, with its own text parser.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value is the metric of family name whose labels include want; -1 when
// there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	met := NewMetrics(reg)
	w := apiWorld(t, Config{Metrics: met})
	h := Instrument(w.srv, reg)
	for range 3 {
		do(t, h, "GET", "/pub/x.iso", "192.0.2.9:1") // DE → de
	}
	do(t, h, "GET", "/pub/x.iso", "10.0.0.1:1")                // no geo data → de, country unknown
	do(t, h, "GET", "/pub/nope", "192.0.2.9:1")                // not_found
	do(t, h, "GET", "/pub/%2e%2e/x", "192.0.2.9:1")            // bad_request
	do(t, h, "GET", "/pub/x.iso?mirrorlist", "192.0.2.9:1")    // list
	do(t, h, "GET", "/pub/x.iso.meta4", "192.0.2.9:1")         // metalink
	do(t, h, "GET", "/pub/", "192.0.2.9:1")                    // index
	do(t, h, "GET", "/api/v1/status", "192.0.2.9:1")           // api
	do(t, h, "GET", "/pub/with%20space.iso", "192.0.2.9:1")    // de holds it: redirect
	do(t, h, "DELETE", "/pub/x.iso", "192.0.2.9:1")            // method_not_allowed
	do(t, h, "GET", "/pub/repodata/repomd.xml", "192.0.2.9:1") // de holds it: redirect (no origin)

	met.ObserveProbe(probe.Result{Target: probe.Target{Protocol: registry.HTTPS, Family: probe.IPv6}, Reason: "timeout after 10s", Class: "timeout"})
	met.ObserveProbe(probe.Result{Target: probe.Target{Protocol: registry.HTTPS, Family: probe.IPv4}, OK: true})
	met.ObserveProbeRound(1500 * time.Millisecond)
	met.observeRescan(3*time.Second, errors.New("refused"))

	fams := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "redirect"}, 6},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "not_found"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "bad_request"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "list"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "metalink"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "index"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "api"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "method_not_allowed"}, 1},
		{"mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "fallback"}, 0},
		{"mirrorkit_redirector_redirects_by_mirror_total", map[string]string{"mirror": "de"}, 6},
		{"mirrorkit_redirector_redirects_by_mirror_total", map[string]string{"mirror": "us"}, 0},
		{"mirrorkit_redirector_redirects_by_country_total", map[string]string{"country": "DE"}, 5},
		{"mirrorkit_redirector_redirects_by_country_total", map[string]string{"country": "unknown"}, 1},
		{"mirrorkit_redirector_redirects_by_country_total", map[string]string{"country": "FR"}, -1}, // no client yet, no series
		{"mirrorkit_redirector_mirrors", map[string]string{"state": "up"}, 1},
		{"mirrorkit_redirector_mirrors", map[string]string{"state": "stale"}, 1},
		{"mirrorkit_redirector_mirrors", map[string]string{"state": "down"}, 1},
		{"mirrorkit_redirector_mirrors", map[string]string{"state": "disabled"}, 1},
		{"mirrorkit_redirector_mirrors", map[string]string{"state": "unknown"}, 0},
		{"mirrorkit_redirector_catalog_files", nil, 4},
		{"mirrorkit_probes_total", map[string]string{"protocol": "https", "family": "ipv6"}, 1},
		{"mirrorkit_probe_failures_total", map[string]string{"protocol": "https", "reason": "timeout"}, 1},
		{"mirrorkit_probe_round_duration_seconds", nil, 1},
		{"mirrorkit_redirector_rescans_total", map[string]string{"result": "failed"}, 1},
		{"mirrorkit_redirector_requests_total", map[string]string{"code": "302"}, 6},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestMetricsFallbacks(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := apiWorld(t, Config{Metrics: NewMetrics(reg), Fallback: []string{"https://fallback.example/"}})
	// No mirror is reachable over IPv6: the fallback.
	rec := do(t, w.srv, "GET", "/pub/x.iso", "[2001:db8::9]:1")
	if loc := rec.Header().Get("Location"); loc != "https://fallback.example/pub/x.iso" {
		t.Fatalf("%d %q", rec.Code, loc)
	}
	fams := scrape(t, reg)
	if got := value(fams, "mirrorkit_redirector_fallbacks_total", map[string]string{"to": "fallback_url"}); got != 1 {
		t.Fatalf("fallbacks to a URL: %v", got)
	}
	if got := value(fams, "mirrorkit_redirector_requests_by_outcome_total", map[string]string{"outcome": "fallback"}); got != 1 {
		t.Fatalf("fallback outcomes: %v", got)
	}
}
