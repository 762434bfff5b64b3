package metrics

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHistogramIsCumulative: the engine counts per bucket, Prometheus
// cumulatively; a NaN sum (no observation yet) becomes 0; an empty
// histogram (loop statistics off) is left out.
func TestHistogramIsCumulative(t *testing.T) {
	d := prometheus.NewDesc("h", "h", []string{"loop"}, nil)
	m, ok := histogram(d, server.Histogram{Bounds: []float64{1, 2, 4}, Counts: []uint64{1, 2, 3}, Count: 7, Sum: math.NaN()}, "0")
	if !ok {
		t.Fatal("histogram left out")
	}
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	h := pb.GetHistogram()
	var got []uint64
	for _, b := range h.GetBucket() {
		got = append(got, b.GetCumulativeCount())
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 6 || h.GetSampleCount() != 7 || h.GetSampleSum() != 0 {
		t.Fatalf("buckets %v count %d sum %v", got, h.GetSampleCount(), h.GetSampleSum())
	}
	if _, ok := histogram(d, server.Histogram{}, "0"); ok {
		t.Fatal("empty histogram exported")
	}
}

// TestOneSeriesPerLoop: every metric is labelled by loop, one series per
// loop, and a server without a codec says "none".
func TestOneSeriesPerLoop(t *testing.T) {
	s, err := server.New(nopHandler{}, server.WithLoops(3))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(s))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("no metrics")
	}
	for _, mf := range mfs {
		loops := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "loop":
					loops[lp.GetValue()] = true
				case "codec":
					if lp.GetValue() != "none" {
						t.Errorf("%s: codec %q, want none", mf.GetName(), lp.GetValue())
					}
				}
			}
		}
		if mf.GetName() != "shoal_connections_closed_total" && len(loops) != 3 {
			t.Errorf("%s: loops %v, want 0, 1 and 2", mf.GetName(), loops)
		}
	}
}

type nopHandler struct{}

func (nopHandler) OnOpen(server.Conn)         {}
func (nopHandler) OnData(server.Conn)         {}
func (nopHandler) OnClose(server.Conn, error) {}
