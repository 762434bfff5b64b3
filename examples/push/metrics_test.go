package main

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterMetrics(t *testing.T) {
	_, h, err := newServer(defaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.node.Close()
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg, h); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{"push_topics", "push_subscriptions", "push_publishes_total", "push_encodes_total",
		"push_delivered_total", "push_slow_closed_total", "push_lost_closed_total", "push_protocol_errors_total",
		"push_goaways_total"} {
		if !got[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	if err := registerMetrics(reg, h); err == nil {
		t.Error("registering twice succeeded")
	}
}
