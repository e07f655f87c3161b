package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "silo_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (streams: until the last byte).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_tokens_total",
			Help: "Tokens processed by model and direction (in: prompt, out: completion).",
		}, []string{"model", "direction"}),
	}
	reg.MustRegister(m.requests, m.latency, m.tokens)
	return m
}

func (m *metrics) observe(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// AddTokens implements openai.TokenCounter.
func (m *metrics) AddTokens(model string, prompt, completion int) {
	m.tokens.WithLabelValues(model, "in").Add(float64(prompt))
	m.tokens.WithLabelValues(model, "out").Add(float64(completion))
}
