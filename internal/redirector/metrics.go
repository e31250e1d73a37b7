package redirector

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
