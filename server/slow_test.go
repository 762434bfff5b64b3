package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flooder writes 1 GiB in 64 KiB chunks to the first connection that
// says "flood", through AsyncWrite from a goroutine, as a publisher would.
type flooder struct {
	closeRecorder
	submitted chan struct{}
	results   chan floodResult
}

type floodResult struct {
	queued, dropped, closed int // chunks by outcome of their completion
}

const (
	floodChunk = 64 << 10
	floodTotal = 1 << 30
)

func (f *flooder) OnData(c Conn) {
	b, _ := c.Peek(0)
	if string(b) != "flood" {
		f.closeRecorder.OnData(c)
		return
	}
	c.Discard(0)
	go func() {
		chunk := bytes.Repeat([]byte("z"), floodChunk)
		var res floodResult
		var mu sync.Mutex
		var wg sync.WaitGroup
		for sent := 0; sent < floodTotal; sent += floodChunk {
			wg.Add(1)
			done := func(_ Conn, err error) {
				mu.Lock()
				switch {
				case err == nil:
					res.queued++
				case errors.Is(err, ErrDropped):
					res.dropped++
				default:
					res.closed++
				}
				mu.Unlock()
				wg.Done()
			}
			for {
				err := c.AsyncWrite(chunk, done)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrQueueFull) {
					done(c, err)
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		f.submitted <- struct{}{}
		wg.Wait()
		f.results <- res
	}()
}

// heapWatch samples the heap in use until stopped and returns the peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak.Load()
	}
}

// TestSlowConsumerNeverReads floods 1 GiB at a peer that never reads, under
// the close and drop policies, while 20 other connections keep echoing.
func TestSlowConsumerNeverReads(t *testing.T) {
	const high, low = 4 << 20, 1 << 20
	for _, tc := range []struct {
		name   string
		policy SlowConsumerPolicy
	}{{"close", SlowConsumerClose}, {"drop", SlowConsumerDrop}} {
		t.Run(tc.name, func(t *testing.T) {
			forEachEngine(t, func(t *testing.T, eng Option) {
				f := &flooder{closeRecorder: *newCloseRecorder(), submitted: make(chan struct{}, 1), results: make(chan floodResult, 1)}
				s, addr := start(t, f, eng, WithWatermarks(high, low), WithSlowConsumerPolicy(tc.policy),
					WithSocketBuffers(64<<10, 64<<10))
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				peak := heapWatch()

				victim := dial(t, addr)
				vc := <-f.opened
				others := make([]net.Conn, 20)
				for i := range others {
					others[i] = dial(t, addr)
					<-f.opened
				}
				victim.Write([]byte("flood"))

				// The others keep echoing while the flood goes on.
				var wg sync.WaitGroup
				for _, c := range others {
					wg.Go(func() {
						for i := range 200 {
							if err := echoRoundTrip(c, bytes.Repeat([]byte{'a' + byte(i%26)}, 1000)); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
				select {
				case <-f.submitted:
				case <-time.After(120 * time.Second):
					t.Fatal("the flood was not submitted")
				}
				wg.Wait()
				// Let the loop work through the last queued tasks, then
				// look at what the victim went through.
				deadline := time.Now().Add(10 * time.Second)
				for s.Stats().Dropped+uint64(high/floodChunk) < floodTotal/floodChunk &&
					tc.policy == SlowConsumerDrop && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				openBefore := s.Stats().Conns
				// Writes still queued complete only when the victim goes.
				victim.(*net.TCPConn).SetLinger(0)
				victim.Close()
				var res floodResult
				select {
				case res = <-f.results:
				case <-time.After(30 * time.Second):
					t.Fatal("the flood's completions did not all run")
				}
				grew := int64(peak()) - int64(base.HeapInuse)
				st := s.Stats()
				t.Logf("heap grew by %d KiB at peak; chunks queued %d dropped %d refused-closed %d; stats: slow %d dropped %d",
					grew>>10, res.queued, res.dropped, res.closed, st.SlowConsumers, st.Dropped)
				// Bounded by the high watermark, plus the chunks in flight
				// in the task queue and the pools: far below the 1 GiB sent.
				if grew > 3*high+16<<20 {
					t.Fatalf("heap grew by %d MiB with a %d MiB high watermark", grew>>20, high>>20)
				}
				if st.SlowConsumers != 1 {
					t.Fatalf("slow-consumer policy fired %d times, want once", st.SlowConsumers)
				}
				switch tc.policy {
				case SlowConsumerClose:
					errs := f.waitClosed(t, vc)
					if len(errs) != 1 || !errors.Is(errs[0], ErrSlowConsumer) {
						t.Fatalf("victim closed with %v, want ErrSlowConsumer", errs)
					}
				case SlowConsumerDrop:
					if res.dropped == 0 || st.Dropped != uint64(res.dropped) {
						t.Fatalf("drop policy: %+v, stats dropped %d", res, st.Dropped)
					}
					if openBefore != 21 {
						t.Fatalf("%d connections open during the flood, want all 21", openBefore)
					}
				}
			})
		})
	}
}

// relay forwards whatever the producer sends to the consumer, on one loop.
type relay struct {
	mu       sync.Mutex
	consumer Conn
	opened   chan Conn
}

func (r *relay) OnOpen(c Conn) { r.opened <- c }
func (r *relay) OnData(c Conn) {
	b, _ := c.Next(0)
	r.mu.Lock()
	dst := r.consumer
	r.mu.Unlock()
	if dst != nil && dst != c {
		dst.Write(b) // both on loop 0: Write is allowed across its connections
	}
}
func (r *relay) OnClose(Conn, error) {}

// TestSlowConsumerPausesProducer relays a producer to a consumer that does
// not read: once the consumer's queue passes the high watermark, the
// producer's reading pauses and TCP stops its sender; when the consumer
// reads, everything arrives, in order, and the producer resumes.
func TestSlowConsumerPausesProducer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs the event-loop engine")
	}
	const high, low = 1 << 20, 256 << 10
	r := &relay{opened: make(chan Conn, 2)}
	s, addr := start(t, r, WithEngine(EngineLoops), WithLoops(1), WithWatermarks(high, low),
		WithSlowConsumerPolicy(SlowConsumerPauseProducer), WithSocketBuffers(64<<10, 64<<10))
	consumer := dial(t, addr)
	cc := <-r.opened
	r.mu.Lock()
	r.consumer = cc
	r.mu.Unlock()
	producer := dial(t, addr)
	<-r.opened

	payload := pattern(64 << 20)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for n < len(payload) {
			producer.SetWriteDeadline(time.Now().Add(time.Second))
			k, err := producer.Write(payload[n:min(n+floodChunk, len(payload))])
			n += k
			if err != nil {
				break // the producer is stalled: TCP pushed back
			}
		}
		sent <- n
	}()
	stalledAt := <-sent
	if stalledAt >= len(payload) {
		t.Fatal("the producer was never paused")
	}
	if st := s.Stats(); st.SlowConsumers == 0 {
		t.Fatal("no slow-consumer event")
	}
	// The consumer reads now: everything sent so far arrives, and the
	// producer, resumed, can send the rest.
	go func() {
		n := stalledAt
		for n < len(payload) {
			producer.SetWriteDeadline(time.Now().Add(30 * time.Second))
			k, err := producer.Write(payload[n:])
			n += k
			if err != nil {
				t.Errorf("producer after resume: %v", err)
				return
			}
		}
	}()
	got := make([]byte, len(payload))
	consumer.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(consumer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("relayed bytes differ")
	}
	t.Logf("producer stalled after %d KiB; consumer then received all %d MiB", stalledAt>>10, len(payload)>>20)
}

// tryWriter fills the queue with TryWrite and counts OnWritable.
type tryWriter struct {
	closeRecorder
	wouldBlock chan int
	writable   chan struct{}
}

func (h *tryWriter) OnData(c Conn) {
	c.Discard(0)
	chunk := make([]byte, 64<<10)
	n := 0
	for {
		if _, err := c.TryWrite(chunk); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				h.wouldBlock <- n
			}
			return
		}
		n++
	}
}

func (h *tryWriter) OnWritable(Conn) { h.writable <- struct{}{} }

func TestTryWriteAndOnWritable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &tryWriter{closeRecorder: *newCloseRecorder(), wouldBlock: make(chan int, 1), writable: make(chan struct{}, 1)}
		_, addr := start(t, h, eng, WithWatermarks(1<<20, 256<<10), WithSocketBuffers(16<<10, 16<<10))
		c := dial(t, addr)
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		c.Write([]byte("go"))
		n := <-h.wouldBlock
		if n != 16 { // 16 x 64 KiB = the 1 MiB high watermark
			t.Fatalf("TryWrite accepted %d chunks before ErrWouldBlock, want 16", n)
		}
		select {
		case <-h.writable:
			t.Fatal("OnWritable before the peer read anything")
		case <-time.After(100 * time.Millisecond):
		}
		got := make([]byte, n<<16)
		readFull(t, c, got)
		select {
		case <-h.writable:
		case <-time.After(10 * time.Second):
			t.Fatal("no OnWritable after the queue drained")
		}
	})
}
