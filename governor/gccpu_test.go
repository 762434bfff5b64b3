package governor

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalnet/shoal/server"
)

// decodingEcho echoes what it reads, after copying it into a 512-byte
// request object, as a handler that decodes messages does: the garbage an
// echo server with real work makes, at a small live heap.
type decodingEcho struct{ sinks [64][]byte }

func (*decodingEcho) OnOpen(server.Conn)         {}
func (*decodingEcho) OnClose(server.Conn, error) {}
func (h *decodingEcho) OnData(c server.Conn) {
	b, _ := c.Next(0)
	req := make([]byte, 512)
	copy(req, b)
	h.sinks[c.LoopIndex()%len(h.sinks)] = req // one slot per loop: no race
	c.Write(b)
}

// gcCPU reads the runtime's CPU accounting.
type gcCPU struct{ gc, total, idle, cycles float64 }

func readGCCPU() gcCPU {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return gcCPU{s[0].Value.Float64(), s[1].Value.Float64(), s[2].Value.Float64(), float64(s[3].Value.Uint64())}
}

// BenchmarkEchoGC runs a 64-byte echo over 32 loopback connections at a
// small live heap (a few MiB against a 256 MiB limit), once with GOGC=100
// and once with the adaptive GOGC (400 at this heap), and reports the GC's
// share of the CPU from runtime/metrics: gc-cpu-% is /cpu/classes/gc/total
// over /cpu/classes/total (GOMAXPROCS × wall time, the definition the
// runtime uses), gc-busy-% over the CPU time not idle.
//
//	go test -run '^$' -bench EchoGC -benchtime 5s ./governor
func BenchmarkEchoGC(b *testing.B) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		b.Skip("GOGC is set in the environment: the governor would not adapt it")
	}
	for _, mode := range []string{"GOGC=100", "adaptive"} {
		b.Run(mode, func(b *testing.B) { benchEchoGC(b, mode == "adaptive") })
	}
}

func benchEchoGC(b *testing.B, adaptive bool) {
	srv, err := server.New(&decodingEcho{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			b.Error(err)
		}
	}()
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if adaptive {
		// The runtime's figures only: the machine's cgroup is not this
		// benchmark's business.
		g, err := New(srv, WithMemoryLimit(256<<20), WithSetMemoryLimit(false), WithMemorySource(newRuntimeSource(nil)))
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer g.Stop()
	}
	conns := make([]net.Conn, 32)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	runtime.GC()
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	before := readGCCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			msg, got := make([]byte, 64), make([]byte, 64)
			for left.Add(-1) >= 0 {
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	after := readGCCPU()
	gc, total, idle := after.gc-before.gc, after.total-before.total, after.idle-before.idle
	if total > 0 && total > idle {
		b.ReportMetric(100*gc/total, "gc-cpu-%")
		b.ReportMetric(100*gc/(total-idle), "gc-busy-%")
	}
	b.ReportMetric((after.cycles-before.cycles)/float64(b.N)*1e6, "gcs/1M-msgs")
	var m [1]metrics.Sample
	m[0].Name = "/gc/gogc:percent"
	metrics.Read(m[:])
	b.ReportMetric(float64(m[0].Value.Uint64()), "gogc")
}
