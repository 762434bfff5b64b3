package governor

import "github.com/prometheus/client_golang/prometheus"

// Collector is a prometheus.Collector over a governor's Stats; each scrape
// takes one snapshot. It is safe for concurrent use.
//
//	reg.MustRegister(governor.NewCollector(g))
type Collector struct {
	g *Governor

	state, transitions, shedConns, shedStalled, shedBytes, shedRounds, reclaims *prometheus.Desc
	limit, runtimeLimit, used, gogc, gomaxprocs, sampleErrors                   *prometheus.Desc
}

// NewCollector returns a collector for g. Its metrics are named
// shoal_governor_*; the only labels are the state names.
func NewCollector(g *Governor) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_governor_"+name, help, labels, nil)
	}
	return &Collector{
		g:            g,
		state:        d("state", "1 for the governor's current state (normal, throttle, shed), 0 for the others.", "state"),
		transitions:  d("transitions_total", "State changes, by the state entered.", "state"),
		shedConns:    d("shed_connections_total", "Connections closed as slow consumers by the governor."),
		shedStalled:  d("shed_stalled_connections_total", "Connections of shed_connections_total closed because their output had stalled."),
		shedBytes:    d("shed_bytes_total", "Outbound bytes held by the connections the governor closed."),
		shedRounds:   d("shed_rounds_total", "Times the governor shed slow consumers."),
		reclaims:     d("reclaims_total", "Garbage collections forced by the governor under pressure."),
		limit:        d("memory_limit_bytes", "Memory limit the marks are shares of (0: none found)."),
		runtimeLimit: d("runtime_memory_limit_bytes", "The Go runtime's memory limit (GOMEMLIMIT) now."),
		used:         d("memory_used_bytes", "Memory in use at the last sample, as compared with the limit."),
		gogc:         d("gogc", "The Go runtime's GOGC now."),
		gomaxprocs:   d("gomaxprocs", "runtime.GOMAXPROCS(0), derived by the runtime from the CPU quota."),
		sampleErrors: d("sample_errors_total", "Memory samples that failed."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.state, c.transitions, c.shedConns, c.shedStalled, c.shedBytes, c.shedRounds, c.reclaims,
		c.limit, c.runtimeLimit, c.used, c.gogc, c.gomaxprocs, c.sampleErrors,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for s := range numStates {
		on := 0.0
		if s == st.State {
			on = 1
		}
		gauge(c.state, on, s.String())
		counter(c.transitions, float64(st.Entered[s]), s.String())
	}
	counter(c.shedConns, float64(st.ShedConns))
	counter(c.shedStalled, float64(st.ShedStalled))
	counter(c.shedBytes, float64(st.ShedBytes))
	counter(c.shedRounds, float64(st.ShedRounds))
	counter(c.reclaims, float64(st.Reclaims))
	counter(c.sampleErrors, float64(st.SampleErrors))
	gauge(c.limit, float64(st.Limit))
	gauge(c.runtimeLimit, float64(st.RuntimeLimit))
	gauge(c.used, float64(st.Memory.Used))
	gauge(c.gogc, float64(st.GOGC))
	gauge(c.gomaxprocs, float64(st.GOMAXPROCS))
}
