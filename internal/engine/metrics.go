package engine

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric descriptions of the engine package. Values are read from a
// Scheduler at each scrape, so no gauge outlives the model it describes.
var (
	queueDepthDesc = prometheus.NewDesc("silo_engine_queue_depth",
		"Requests waiting for a slot, per model.", []string{"model"}, nil)
	inFlightDesc = prometheus.NewDesc("silo_engine_in_flight",
		"Requests running on an engine, per model.", []string{"model"}, nil)
	backendHealthyDesc = prometheus.NewDesc("silo_engine_backend_healthy",
		"1 if the engine backend can take requests, else 0.", []string{"backend"}, nil)
)

// healthScrapeTimeout bounds the Health call made during a scrape.
const healthScrapeTimeout = 5 * time.Second

// RegisterMetrics registers the engine metrics of s with reg:
// silo_engine_queue_depth and silo_engine_in_flight per model (models with
// nothing running or waiting are left out), and silo_engine_backend_healthy
// per backend of the engine behind s.
func RegisterMetrics(reg prometheus.Registerer, s *Scheduler) error {
	return reg.Register(collector{s})
}

type collector struct{ s *Scheduler }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- inFlightDesc
	ch <- backendHealthyDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.s.Load() {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(l.Queued), l.Model)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(l.InFlight), l.Model)
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthScrapeTimeout)
	defer cancel()
	seen := map[string]bool{}
	for _, h := range c.s.Health(ctx) {
		if seen[h.Name] {
			continue // a duplicate label set would fail the whole scrape
		}
		seen[h.Name] = true
		v := 0.0
		if h.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(backendHealthyDesc, prometheus.GaugeValue, v, h.Name)
	}
}
