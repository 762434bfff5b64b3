package governor

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollectorLint(t *testing.T) {
	g, _ := newTestGovernor(t, &fakeServer{}, &fakeSource{})
	problems, err := testutil.CollectAndLint(NewCollector(g))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestCollectorValues: the state gauge is one-hot, transitions and shed
// counters follow Stats.
func TestCollectorValues(t *testing.T) {
	srv := &fakeServer{queues: []int64{300, 100}}
	src := &fakeSource{}
	g, _ := newTestGovernor(t, srv, src)
	script(g, src, []step{{0, 0.72, 0, Throttle}, {100, 0.9, 0, Shed}})
	want := `
# HELP shoal_governor_memory_limit_bytes Memory limit the marks are shares of (0: none found).
# TYPE shoal_governor_memory_limit_bytes gauge
shoal_governor_memory_limit_bytes 1000
# HELP shoal_governor_shed_bytes_total Outbound bytes held by the connections the governor closed.
# TYPE shoal_governor_shed_bytes_total counter
shoal_governor_shed_bytes_total 300
# HELP shoal_governor_shed_connections_total Connections closed as slow consumers by the governor.
# TYPE shoal_governor_shed_connections_total counter
shoal_governor_shed_connections_total 1
# HELP shoal_governor_state 1 for the governor's current state (normal, throttle, shed), 0 for the others.
# TYPE shoal_governor_state gauge
shoal_governor_state{state="normal"} 0
shoal_governor_state{state="shed"} 1
shoal_governor_state{state="throttle"} 0
# HELP shoal_governor_transitions_total State changes, by the state entered.
# TYPE shoal_governor_transitions_total counter
shoal_governor_transitions_total{state="normal"} 0
shoal_governor_transitions_total{state="shed"} 1
shoal_governor_transitions_total{state="throttle"} 1
`
	err := testutil.CollectAndCompare(NewCollector(g), strings.NewReader(want),
		"shoal_governor_state", "shoal_governor_transitions_total", "shoal_governor_shed_connections_total",
		"shoal_governor_shed_bytes_total", "shoal_governor_memory_limit_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(NewCollector(g)); n != 17 {
		t.Fatalf("%d metrics, want 17", n)
	}
}
