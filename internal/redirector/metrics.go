package redirector

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

// Instrument wraps the handler with request metrics registered on reg:
// requests by status class and the time to answer them.
func Instrument(h http.Handler, reg prometheus.Registerer) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrorkit_redirector_requests_total", Help: "Requests by HTTP status code.",
	}, []string{"code"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mirrorkit_redirector_request_duration_seconds", Help: "Time to answer a request.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
	})
	reg.MustRegister(requests, latency)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		requests.WithLabelValues(strconv.Itoa(sw.code)).Inc()
		latency.Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer (sendfile).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// outcome is what the redirector did with a request.
type outcome uint8

const (
	outRedirect outcome = iota
	outServedLocally
	outFallback
	outNotFound
	outBadRequest
	outEmbargoed
	outList
	outMetalink
	outIndex
	outMethodNotAllowed
	outUnavailable
	outAPI
	numOutcomes
)

func (o outcome) String() string {
	switch o {
	case outRedirect:
		return "redirect"
	case outServedLocally:
		return "served_locally"
	case outFallback:
		return "fallback"
	case outNotFound:
		return "not_found"
	case outBadRequest:
		return "bad_request"
	case outEmbargoed:
		return "embargoed"
	case outList:
		return "list"
	case outMetalink:
		return "metalink"
	case outIndex:
		return "index"
	case outMethodNotAllowed:
		return "method_not_allowed"
	case outUnavailable:
		return "unavailable"
	case outAPI:
		return "api"
	}
	return "unknown"
}

// fallbackTo is where a request went when no mirror qualified.
type fallbackTo uint8

const (
	fallbackOrigin fallbackTo = iota
	fallbackMirror
	fallbackNone
	numFallbacks
)

func (f fallbackTo) String() string {
	switch f {
	case fallbackOrigin:
		return "origin"
	case fallbackMirror:
		return "fallback_url"
	}
	return "none"
}

// Metrics are the redirector's Prometheus metrics beyond requests by code:
// what it did with each request, which mirrors and client countries its
// redirects went to, the network's state, probes and rescans.
//
// The redirect path reads only children resolved in advance (by outcome,
// by mirror slot in each State, by country in a fixed map), so counting a
// redirect is a few atomic adds and allocates nothing.
type Metrics struct {
	outcomes  [numOutcomes]prometheus.Counter
	fallbacks [numFallbacks]prometheus.Counter
	byMirror  *prometheus.CounterVec
	byCountry *prometheus.CounterVec
	// countries maps every ISO code to its lazily created child, so a
	// country with no client yet shows no series; read-only after New.
	countries map[string]*lazyCounter
	unknown   lazyCounter

	mirrors        *prometheus.GaugeVec
	files          prometheus.Gauge
	probeRound     prometheus.Histogram
	probes         *prometheus.CounterVec
	probeFailures  *prometheus.CounterVec
	rescans        *prometheus.CounterVec
	rescanDuration prometheus.Histogram
}

type lazyCounter struct {
	once  sync.Once
	vec   *prometheus.CounterVec
	label string
	c     prometheus.Counter
}

func (l *lazyCounter) get() prometheus.Counter {
	l.once.Do(func() { l.c = l.vec.WithLabelValues(l.label) })
	return l.c
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrorkit_redirector_requests_by_outcome_total",
		Help: "Requests by what the redirector did: redirect (to a mirror), served_locally, fallback, not_found, bad_request, embargoed, list, metalink, index, method_not_allowed, unavailable, api.",
	}, []string{"outcome"})
	fallbacks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirrorkit_redirector_fallbacks_total",
		Help: "Downloads no mirror qualified for, by where they went: origin, fallback_url, none (503).",
	}, []string{"to"})
	m := &Metrics{
		byMirror: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_redirector_redirects_by_mirror_total", Help: "Redirects to each mirror.",
		}, []string{"mirror"}),
		byCountry: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_redirector_redirects_by_country_total",
			Help: "Redirects to a mirror by the client's country (ISO 3166-1 alpha-2, or unknown).",
		}, []string{"country"}),
		mirrors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrorkit_redirector_mirrors", Help: "Public mirrors by state: up, down, stale, disabled, unknown.",
		}, []string{"state"}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mirrorkit_redirector_catalog_files", Help: "Public files in the catalog the redirector serves.",
		}),
		probeRound: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mirrorkit_probe_round_duration_seconds", Help: "Time to probe every mirror once, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 12),
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_probes_total", Help: "Probes by protocol and address family.",
		}, []string{"protocol", "family"}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_probe_failures_total",
			Help: "Failed probes by protocol and kind of reason (timeout, refused, reset, unreachable, dns, tls, http_status, other).",
		}, []string{"protocol", "reason"}),
		rescans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_redirector_rescans_total", Help: "Rescans of mirrors that came back up, by result (ok, failed).",
		}, []string{"result"}),
		rescanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mirrorkit_redirector_rescan_duration_seconds", Help: "Time to rescan a mirror that came back up.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
		}),
		countries: map[string]*lazyCounter{},
	}
	for o := range numOutcomes {
		m.outcomes[o] = outcomes.WithLabelValues(o.String())
	}
	for f := range numFallbacks {
		m.fallbacks[f] = fallbacks.WithLabelValues(f.String())
	}
	for _, c := range country.All() {
		m.countries[c.Code] = &lazyCounter{vec: m.byCountry, label: c.Code}
	}
	m.unknown = lazyCounter{vec: m.byCountry, label: "unknown"}
	for _, s := range []netstatus.State{netstatus.Up, netstatus.Down, netstatus.Stale, netstatus.Disabled, netstatus.Unknown} {
		m.mirrors.WithLabelValues(string(s))
	}
	reg.MustRegister(outcomes, fallbacks, m.byMirror, m.byCountry, m.mirrors, m.files, m.probeRound, m.probes,
		m.probeFailures, m.rescans, m.rescanDuration)
	return m
}

// count records a request's outcome; a nil Metrics records nothing.
func (m *Metrics) count(o outcome) {
	if m != nil {
		m.outcomes[o].Inc()
	}
}

// redirected records a redirect to the mirror in slot for a client in cc.
func (m *Metrics) redirected(st *State, slot int, cc string) {
	if m == nil {
		return
	}
	m.outcomes[outRedirect].Inc()
	if slot < len(st.redirects) && st.redirects[slot] != nil {
		st.redirects[slot].Inc()
	}
	if l := m.countries[cc]; l != nil {
		l.get().Inc()
	} else {
		m.unknown.get().Inc()
	}
}

// fellBack records a download that no mirror qualified for.
func (m *Metrics) fellBack(to fallbackTo) {
	if m != nil {
		m.outcomes[outFallback].Inc()
		m.fallbacks[to].Inc()
	}
}

// forTable resolves each slot's per-mirror counter once per state, off the
// hot path.
func (m *Metrics) forTable(t *selection.Table) []prometheus.Counter {
	out := make([]prometheus.Counter, t.Slots())
	for slot := range out {
		if mi, ok := t.Mirror(slot); ok {
			out[slot] = m.byMirror.WithLabelValues(mi.Name)
		}
	}
	return out
}

// network sets the gauges from a new picture of the network.
func (m *Metrics) network(n *netstatus.Network) {
	if m == nil || n == nil {
		return
	}
	for s, c := range n.Totals {
		m.mirrors.WithLabelValues(string(s)).Set(float64(c))
	}
	m.files.Set(float64(n.Files))
}

// ObserveProbe records one probe's result (for probe.Runner.Observe).
func (m *Metrics) ObserveProbe(r probe.Result) {
	m.probes.WithLabelValues(string(r.Protocol), r.Family.String()).Inc()
	if !r.OK {
		m.probeFailures.WithLabelValues(string(r.Protocol), r.Class).Inc()
	}
}

// ObserveProbeRound records how long a probe round took (for
// probe.Runner.RoundDone).
func (m *Metrics) ObserveProbeRound(d time.Duration) { m.probeRound.Observe(d.Seconds()) }

// observeRescan records a rescan of a mirror that came back up.
func (m *Metrics) observeRescan(d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.rescans.WithLabelValues(result).Inc()
	m.rescanDuration.Observe(d.Seconds())
}
