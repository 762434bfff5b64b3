package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/pubsub"
)

// registerMetrics adds the node's and the handler's counters to the admin
// registry, next to the server's.
func registerMetrics(reg prometheus.Registerer, h *handler) error {
	stat := func(f func(pubsub.Stats) int64) func() float64 {
		return func() float64 { return float64(f(h.node.Stats())) }
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "push_topics", Help: "Topics with at least one subscriber."},
			stat(func(s pubsub.Stats) int64 { return s.Topics })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "push_subscriptions", Help: "Subscriber-topic pairs."},
			stat(func(s pubsub.Stats) int64 { return s.Subscribers })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_publishes_total", Help: "PUB requests stored and acknowledged."},
			stat(func(s pubsub.Stats) int64 { return s.Published })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_encodes_total", Help: "MSG frames encoded (one per publication with subscribers)."},
			func() float64 { return float64(h.encodes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_delivered_total", Help: "MSG frames queued for subscribers (by reference)."},
			stat(func(s pubsub.Stats) int64 { return s.Delivered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_slow_closed_total", Help: "Subscribers closed above -max-pending (ERR 8)."},
			stat(func(s pubsub.Stats) int64 { return s.Slow })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_lost_closed_total", Help: "Subscribers closed because messages for them were lost in the server (ERR 9)."},
			stat(func(s pubsub.Stats) int64 { return s.Lost })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_protocol_errors_total", Help: "Connections closed for a malformed body."},
			func() float64 { return float64(h.protocolErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "push_goaways_total", Help: "GOAWAY frames written in a graceful shutdown."},
			func() float64 { return float64(h.goAways.Load()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
