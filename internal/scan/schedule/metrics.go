package schedule

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scanner's Prometheus series, registered on the caller's
// registry (never the global one).
type Metrics struct {
	scans      *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	completion *prometheus.GaugeVec
	lastGood   *prometheus.GaugeVec
	current    *prometheus.GaugeVec
	files      prometheus.GaugeFunc
}

// NewMetrics registers the scanner's series on reg.
func NewMetrics(reg prometheus.Registerer, svc *Service) *Metrics {
	m := &Metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_scans_total", Help: "Mirror scans by the protocol whose listing was used (\"none\" when all failed) and outcome.",
		}, []string{"protocol", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mirrorkit_scan_duration_seconds", Help: "Time one mirror's scan took, all protocols tried.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
		}, []string{"outcome"}),
		completion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrorkit_mirror_completion_ratio", Help: "Share (0..1) of the files a mirror claims that its last good scan found current.",
		}, []string{"mirror"}),
		lastGood: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrorkit_mirror_last_good_scan_timestamp_seconds", Help: "When a mirror's last good scan finished (Unix time).",
		}, []string{"mirror"}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrorkit_mirror_current_files", Help: "Catalog files a mirror holds in their current version, per its last good scan.",
		}, []string{"mirror"}),
		files: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mirrorkit_inventory_files", Help: "Catalog files in the inventory.",
		}, func() float64 { return float64(svc.Inventory.Snapshot().Files()) }),
	}
	reg.MustRegister(m.scans, m.duration, m.completion, m.lastGood, m.current, m.files)
	return m
}

// Observe records one finished scan.
func (m *Metrics) Observe(r Result, err error) {
	outcome, proto := "ok", r.Protocol
	if err != nil || !r.OK {
		outcome = "failed"
	}
	if proto == "" {
		proto = "none"
	}
	m.scans.WithLabelValues(proto, outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	if outcome == "ok" && r.Mirror != "" {
		m.completion.WithLabelValues(r.Mirror).Set(r.Completion / 100)
		m.lastGood.WithLabelValues(r.Mirror).Set(float64(r.FinishedAt.Unix()))
		m.current.WithLabelValues(r.Mirror).Set(float64(r.Current))
	}
}
