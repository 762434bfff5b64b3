// Package metrics exports a Shoal server's statistics as Prometheus
// metrics. It is separate from the engine so that the engine does not
// depend on the Prometheus client.
//
// Every metric has a "loop" label (bounded by the number of loops); close
// reasons and the codec name are the only other labels. Nothing is
// labelled per connection or per client address.
//
//	reg := metrics.NewRegistry(srv) // Shoal, Go runtime and process metrics
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package metrics

import (
	"math"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoalnet/shoal/server"
)

// Collector is a prometheus.Collector over one server's Stats. Each
// scrape takes one Stats snapshot. It is safe for concurrent use.
type Collector struct {
	s     *server.Server
	codec string

	conns, accepted, closed, bytesIn, bytesOut       *prometheus.Desc
	frames, frameErrors, outbound, slow, dropped     *prometheus.Desc
	writeStalls, panics, acceptErrors, stalls, tasks *prometheus.Desc
	iterations, events                               *prometheus.Desc
}

// New returns a collector for s.
func New(s *server.Server) *Collector {
	loop := []string{"loop"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shoal_"+name, help, append(loop, labels...), nil)
	}
	codec := s.CodecName()
	if codec == "" {
		codec = "none"
	}
	return &Collector{
		s:            s,
		codec:        codec,
		conns:        d("connections", "Open connections."),
		accepted:     d("connections_accepted_total", "Connections accepted, refused ones included."),
		closed:       d("connections_closed_total", "Connections closed, by reason.", "reason"),
		bytesIn:      d("read_bytes_total", "Bytes read from connections."),
		bytesOut:     d("written_bytes_total", "Bytes written to connections."),
		frames:       d("frames_decoded_total", "Frames decoded by the codec.", "codec"),
		frameErrors:  d("frame_errors_total", "Connections closed for input the codec rejected.", "codec"),
		outbound:     d("outbound_queued_bytes", "Output queued on connections and not yet sent."),
		slow:         d("slow_consumer_events_total", "Times an outbound queue passed its high watermark."),
		dropped:      d("dropped_writes_total", "Writes dropped by the drop slow-consumer policy."),
		writeStalls:  d("write_stalls_total", "Times a send buffer filled and a connection waited for writability."),
		panics:       d("panics_recovered_total", "Callbacks that panicked; each closed its connection."),
		acceptErrors: d("accept_errors_total", "Failed accepts (EMFILE, ENFILE, ENOBUFS, ...)."),
		stalls:       d("loop_stalls_total", "Times a loop was busy for longer than the stall threshold."),
		tasks:        d("task_queue_depth", "Tasks (AsyncWrite) waiting for the loop."),
		iterations:   d("loop_iteration_duration_seconds", "Time a loop spends on one batch of events (needs WithLoopStats)."),
		events:       d("loop_events_per_wakeup", "Events a loop handles per wake-up (needs WithLoopStats)."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.conns, c.accepted, c.closed, c.bytesIn, c.bytesOut, c.frames, c.frameErrors, c.outbound,
		c.slow, c.dropped, c.writeStalls, c.panics, c.acceptErrors, c.stalls, c.tasks, c.iterations, c.events,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	for i, l := range st.Loops {
		loop := strconv.Itoa(i)
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{loop}, labels...)...)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{loop}, labels...)...)
		}
		gauge(c.conns, float64(l.Conns))
		counter(c.accepted, l.Accepted+l.Refused)
		for r, n := range l.ClosedBy {
			counter(c.closed, n, server.CloseReason(r).String())
		}
		counter(c.bytesIn, l.BytesIn)
		counter(c.bytesOut, l.BytesOut)
		counter(c.frames, l.Frames, c.codec)
		counter(c.frameErrors, l.FrameErrors, c.codec)
		gauge(c.outbound, float64(l.OutboundBytes))
		counter(c.slow, l.SlowConsumers)
		counter(c.dropped, l.Dropped)
		counter(c.writeStalls, l.WriteStalls)
		counter(c.panics, l.Panics)
		counter(c.acceptErrors, l.AcceptErrors)
		counter(c.stalls, l.Stalls)
		gauge(c.tasks, float64(l.TaskQueue))
		if h, ok := histogram(c.iterations, l.Iterations, loop); ok {
			ch <- h
		}
		if h, ok := histogram(c.events, l.EventsPerWake, loop); ok {
			ch <- h
		}
	}
}

// histogram converts an engine histogram (per-bucket counts) into a
// Prometheus one (cumulative counts). Empty histograms (WithLoopStats off)
// are left out.
func histogram(d *prometheus.Desc, h server.Histogram, loop string) (prometheus.Metric, bool) {
	if len(h.Bounds) == 0 {
		return nil, false
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	if math.IsNaN(h.Sum) {
		h.Sum = 0
	}
	m, err := prometheus.NewConstHistogram(d, h.Count, h.Sum, buckets, loop)
	return m, err == nil
}

// NewRegistry returns a registry with the server's collector, the Go
// runtime collector (including the GC pause histogram, whose p99 tells
// more than the mean) and the process collector.
func NewRegistry(s *server.Server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		New(s),
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.MetricsGC, collectors.MetricsScheduler,
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/pauses/.*`)},
		)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
