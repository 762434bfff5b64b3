package admin

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/metrics"
	"github.com/shoalnet/shoal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lines is a newline codec with a 32-byte limit.
type lines struct{}

func (lines) Name() string { return "lines" }
func (lines) Decode(b []byte) ([]byte, int, error) {
	i := bytes.IndexByte(b, '\n')
	switch {
	case i < 0 && len(b) > 32, i > 32:
		return nil, 0, codec.ErrFrameTooLarge
	case i < 0:
		return nil, 0, nil
	}
	return b[:i], i + 1, nil
}
func (lines) AppendFrame(dst, msg []byte) ([]byte, error) {
	return append(append(dst, msg...), '\n'), nil
}

// handler echoes lines; "panic" panics and "block" blocks its loop.
type handler struct {
	release chan struct{}
	blocked chan struct{}
}

func (handler) OnOpen(server.Conn)         {}
func (handler) OnData(server.Conn)         {}
func (handler) OnClose(server.Conn, error) {}
func (h handler) OnFrame(c server.Conn, f []byte) {
	switch string(f) {
	case "panic":
		panic("provoked")
	case "block":
		h.blocked <- struct{}{}
		<-h.release
	}
	c.WriteFrame(f)
}

func startAll(t *testing.T, opts ...server.Option) (*server.Server, string, *Admin, handler) {
	t.Helper()
	h := handler{release: make(chan struct{}), blocked: make(chan struct{}, 1)}
	srv, err := server.New(h, append([]server.Option{server.WithCodec(lines{}), server.WithLoopStats(true)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	adm, err := Start("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		adm.Shutdown(context.Background())
		srv.Close()
		<-served
	})
	return srv, ln.Addr().String(), adm, h
}

// scrape fetches /metrics and sums every series of each family over the
// loop label, keyed by family and the other labels ("name{reason=eof}").
func scrape(t *testing.T, adm *Admin) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + adm.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				if l.GetName() != "loop" {
					key += "{" + l.GetName() + "=" + l.GetValue() + "}"
				}
			}
			out[key] += value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// eventually polls f until it holds or 10s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	_, addr, adm, _ := startAll(t, server.WithIdleTimeout(200*time.Millisecond), server.WithTuning(server.Tuning{TimerTick: 10 * time.Millisecond}))
	m := scrape(t, adm)
	if m["shoal_connections"] != 0 || m["go_gc_duration_seconds"] < 0 {
		t.Fatalf("fresh server: %v connections", m["shoal_connections"])
	}
	if _, ok := m["go_sched_pauses_total_gc_seconds"]; !ok {
		t.Fatal("no GC pause histogram")
	}

	conns := make([]net.Conn, 5)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		c.Write([]byte("hello\n"))
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\n" {
			t.Fatalf("echo %q %v", line, err)
		}
	}
	// The loop counts written bytes after the write returns, and the peer
	// may read them (and this test scrape) before that: wait for the counts.
	eventually(t, "the metrics count 5 echoes", func() bool {
		m = scrape(t, adm)
		return m["shoal_connections"] == 5 && m["shoal_connections_accepted_total"] == 5 &&
			m["shoal_read_bytes_total"] == 30 && m["shoal_written_bytes_total"] == 30 &&
			m["shoal_frames_decoded_total{codec=lines}"] == 5 && m["shoal_loop_iteration_duration_seconds"] != 0
	})

	conns[0].Close()                                // eof
	conns[1].Write([]byte("panic\n"))               // panic
	conns[2].Write([]byte(strings.Repeat("x", 64))) // protocol error
	// conns[3] and [4] go quiet: idle timeout.
	eventually(t, "every close counted by reason", func() bool {
		m = scrape(t, adm)
		return m["shoal_connections_closed_total{reason=eof}"] == 1 &&
			m["shoal_connections_closed_total{reason=panic}"] == 1 &&
			m["shoal_panics_recovered_total"] == 1 &&
			m["shoal_connections_closed_total{reason=protocol_error}"] == 1 &&
			m["shoal_frame_errors_total{codec=lines}"] == 1 &&
			m["shoal_connections_closed_total{reason=timeout}"] == 2 &&
			m["shoal_connections"] == 0
	})
}

func TestMetricNamesLint(t *testing.T) {
	srv, _, _, _ := startAll(t)
	problems, err := testutil.CollectAndLint(metrics.New(srv))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestHealthzFailsWhenALoopIsBlocked(t *testing.T) {
	_, addr, adm, h := startAll(t, server.WithLoops(2))
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + adm.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("block\n"))
	<-h.blocked
	code, body := get("/healthz")
	close(h.release)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not turning") {
		t.Fatalf("healthz with a blocked loop: %d %s", code, body)
	}
	eventually(t, "healthy again", func() bool { code, _ := get("/healthz"); return code == 200 })
}

func TestReadyzFlipsAndPprofServes(t *testing.T) {
	_, _, adm, _ := startAll(t)
	status := func(path string) int {
		resp, err := http.Get("http://" + adm.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/readyz") != 200 {
		t.Fatal("not ready at start")
	}
	adm.SetReady(false)
	if status("/readyz") != http.StatusServiceUnavailable || adm.Ready() {
		t.Fatal("readyz did not flip")
	}
	adm.SetReady(true)
	if status("/readyz") != 200 {
		t.Fatal("readyz did not flip back")
	}
	if status("/debug/pprof/goroutine?debug=1") != 200 || status("/debug/pprof/") != 200 {
		t.Fatal("pprof not served")
	}
}

func pick(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
