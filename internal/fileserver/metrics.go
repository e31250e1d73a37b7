package fileserver

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons, the "reason" label of refusals_total.
const (
	reasonPerIP         = "per_ip_limit"    // a connection over MaxConnsPerIP got a 503
	reasonRange         = "range"           // a Range on a NoRange file got the whole file
	reasonTooManyRanges = "too_many_ranges" // more than MaxRanges ranges: the whole file
)

type metrics struct {
	requests   *prometheus.CounterVec // code, method
	sent       prometheus.Counter
	received   prometheus.Counter
	active     prometheus.Gauge
	conns      prometheus.Counter
	refusals   *prometheus.CounterVec // reason
	tlsReloads *prometheus.CounterVec // result

	// The common cases, resolved once: WithLabelValues hashes its labels.
	get200, get206, get304, get404, head200 prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "mirrorkit", "fileserver"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "HTTP requests answered, by status code and method."}, []string{"code", "method"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sent_bytes_total",
			Help: "Bytes written to client connections (headers, bodies, TLS)."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "received_bytes_total",
			Help: "Bytes read from client connections."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active_connections",
			Help: "Client connections open now."}),
		conns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "connections_total",
			Help: "Client connections accepted."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "refusals_total",
			Help: "Requests refused or downgraded by a download-accelerator limit, by reason."}, []string{"reason"}),
		tlsReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tls_reloads_total",
			Help: "Certificate reloads after the files changed, by result."}, []string{"result"}),
	}
	for _, r := range []string{reasonPerIP, reasonRange, reasonTooManyRanges} {
		m.refusals.WithLabelValues(r)
	}
	m.get200 = m.requests.WithLabelValues("200", "GET")
	m.get206 = m.requests.WithLabelValues("206", "GET")
	m.get304 = m.requests.WithLabelValues("304", "GET")
	m.get404 = m.requests.WithLabelValues("404", "GET")
	m.head200 = m.requests.WithLabelValues("200", "HEAD")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.sent, m.received, m.active, m.conns, m.refusals, m.tlsReloads} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register fileserver metrics: %w (one registry per Server)", err)
			}
			return nil, fmt.Errorf("register fileserver metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) request(code int, method string) {
	switch {
	case method == "GET" && code == 200:
		m.get200.Inc()
	case method == "GET" && code == 206:
		m.get206.Inc()
	case method == "GET" && code == 304:
		m.get304.Inc()
	case method == "GET" && code == 404:
		m.get404.Inc()
	case method == "HEAD" && code == 200:
		m.head200.Inc()
	default:
		if method != "GET" && method != "HEAD" {
			method = "other" // clients choose methods: keep the label set bounded
		}
		m.requests.WithLabelValues(strconv.Itoa(code), method).Inc()
	}
}
