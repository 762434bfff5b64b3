package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/examples/push/hub"
)

// registerMetrics adds the hub's counters to the admin registry, next to
// the server's.
func registerMetrics(reg prometheus.Registerer, h *handler) error {
	stat := func(f func(hub.Stats) float64) func() float64 {
		return func() float64 { return f(h.hub.Stats()) }
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "push_topics", Help: "Topics with at least one subscriber."},
			stat(func(s hub.Stats) float64 { return float64(s.Topics) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "push_subscriptions", Help: "Subscriber-topic pairs."},
			stat(func(s hub.Stats) float64 { return float64(s.Subscriptions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_publishes_total", Help: "Accepted PUB requests."},
			stat(func(s hub.Stats) float64 { return float64(s.Publishes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_encodes_total", Help: "MSG frames encoded (one per publish with subscribers)."},
			stat(func(s hub.Stats) float64 { return float64(s.Encodes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_delivered_total", Help: "MSG frames queued for subscribers."},
			stat(func(s hub.Stats) float64 { return float64(s.Delivered) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_dropped_total", Help: "MSG frames dropped for subscribers above -max-pending (-over-limit drop)."},
			stat(func(s hub.Stats) float64 { return float64(s.Dropped) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_slow_closed_total", Help: "Subscribers closed above -max-pending (-over-limit close)."},
			stat(func(s hub.Stats) float64 { return float64(s.SlowClosed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_flushes_total", Help: "Writes of pending messages to a subscriber (one per OnWake with messages)."},
			stat(func(s hub.Stats) float64 { return float64(s.Flushes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_flushed_total", Help: "MSG frames written to subscribers' connections."},
			stat(func(s hub.Stats) float64 { return float64(s.Flushed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_protocol_errors_total", Help: "Connections closed for a malformed body."},
			func() float64 { return float64(h.protocolErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_goaways_total", Help: "GOAWAY frames written in a graceful shutdown."},
			func() float64 { return float64(h.goAways.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_publisher_holds_total", Help: "Times a publisher was no longer read because the queued output was above -publish-budget."},
			func() float64 { return float64(h.pace.holds()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_stalled_closed_total", Help: "Subscribers closed because publishers were held back for -stall and their output had not moved for as long."},
			func() float64 { return float64(h.pace.stalledClosed()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
