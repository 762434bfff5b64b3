package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// stampSize is the size of the send timestamp at the start of every message.
const stampSize = 8

// epoch is the process-wide origin of the timestamps in messages; time.Since
// uses the monotonic clock.
var epoch = time.Now()

func stamp() int64 { return int64(time.Since(epoch)) }

// Latency histograms record nanoseconds from 100 ns to 10 s with two
// significant digits (1% resolution), small enough to keep one per
// connection (about 20 KiB) and merge them at the end without locking.
const (
	histMin    = 100
	histMax    = int64(10 * time.Second)
	histDigits = 2
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// loadConfig is one echo case.
type loadConfig struct {
	addr     string
	conns    int           // connections
	size     int           // message size in bytes, at least stampSize
	depth    int           // messages in flight per connection
	warmup   time.Duration // not measured
	duration time.Duration // measured
}

// loadResult is what one run of the load generator measured.
type loadResult struct {
	msgs     int64         // echoes completed in the measured window
	window   time.Duration // length of the measured window
	hist     *hdrhistogram.Histogram
	lag      *hdrhistogram.Histogram // open loop: how late the sender wrote each batch (nil in the closed loop)
	errors   int64                   // connections that failed (dial, I/O) before the end
	mismatch int64                   // echoes whose bytes differed from what was sent
	firstErr error
}

// Phases of a run, in order.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// runLoad is a closed-loop load generator: cfg.conns connections each keep
// exactly cfg.depth messages of cfg.size bytes in flight. Each message
// starts with its send time; its latency is taken when its echo has been
// read completely, and the echo is compared with what was sent. onWindow
// runs at the start (true) and at the end (false) of the measured window,
// on the calling goroutine, to sample the server.
func runLoad(cfg loadConfig, onWindow func(start bool)) (loadResult, error) {
	if cfg.size < stampSize {
		return loadResult{}, fmt.Errorf("message size %d is below %d bytes", cfg.size, stampSize)
	}
	if cfg.depth < 1 {
		return loadResult{}, fmt.Errorf("pipeline depth %d is below 1", cfg.depth)
	}
	conns, failed, err := forEachConn(cfg.addr, cfg.conns, nil)
	if failed > 0 {
		closeAll(conns)
		return loadResult{}, fmt.Errorf("%d of %d connections failed: %w", failed, cfg.conns, err)
	}
	defer closeAll(conns)

	var phase atomic.Int32
	workers := make([]*loadWorker, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		w := newLoadWorker(i, c, cfg.size, cfg.depth)
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(&phase)
		}()
	}

	time.Sleep(cfg.warmup)
	onWindow(true)
	t0 := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(cfg.duration)
	phase.Store(phaseDone)
	window := time.Since(t0)
	onWindow(false)

	// Unblock every worker: reads and writes fail at once from now on.
	for _, c := range conns {
		c.SetDeadline(time.Now())
	}
	wg.Wait()

	res := loadResult{window: window, hist: newHist()}
	for _, w := range workers {
		res.msgs += w.msgs
		res.hist.Merge(w.hist)
		if w.mismatch {
			res.mismatch++
		}
		if w.err != nil {
			if !w.mismatch {
				res.errors++
			}
			if res.firstErr == nil {
				res.firstErr = w.err
			}
		}
	}
	return res, nil
}

// loadWorker drives one connection.
type loadWorker struct {
	c     *net.TCPConn
	r     *bufio.Reader
	size  int
	depth int
	tmpl  []byte  // the bytes after the stamp, the same in every message of this connection
	sent  []int64 // stamps in flight, a FIFO ring of depth entries
	head  int
	out   []byte

	hist     *hdrhistogram.Histogram
	msgs     int64
	mismatch bool
	err      error
}

func newLoadWorker(id int, c *net.TCPConn, size, depth int) *loadWorker {
	tmpl := make([]byte, size-stampSize)
	for i := range tmpl {
		tmpl[i] = byte(id*31 + i*7 + 1)
	}
	bufSize := min(max(size*depth, 4<<10), 64<<10)
	return &loadWorker{
		c:     c,
		r:     bufio.NewReaderSize(c, max(bufSize, size)),
		size:  size,
		depth: depth,
		tmpl:  tmpl,
		sent:  make([]int64, depth),
		out:   make([]byte, 0, size*depth),
		hist:  newHist(),
	}
}

// appendMsg appends one message stamped now and remembers its stamp.
func (w *loadWorker) appendMsg(out []byte, slot int) []byte {
	t := stamp()
	w.sent[slot] = t
	out = binary.LittleEndian.AppendUint64(out, uint64(t))
	return append(out, w.tmpl...)
}

// run writes depth messages, then, for each echo read, checks it and writes
// one more message, so that exactly depth messages are outstanding. When
// several echoes are already buffered, their replacements go out in one
// write (still before the next blocking read).
func (w *loadWorker) run(phase *atomic.Int32) {
	w.out = w.out[:0]
	for i := range w.depth {
		w.out = w.appendMsg(w.out, i)
	}
	if _, err := w.c.Write(w.out); err != nil {
		w.fail(phase, err)
		return
	}
	for {
		msg, err := w.r.Peek(w.size)
		if err != nil {
			w.fail(phase, err)
			return
		}
		w.out = w.out[:0]
		for {
			if err := w.check(msg, phase); err != nil {
				w.mismatch = true
				w.err = err
				return
			}
			w.r.Discard(w.size)
			w.out = w.appendMsg(w.out, w.head)
			w.head++
			if w.head == w.depth {
				w.head = 0
			}
			if w.r.Buffered() < w.size {
				break
			}
			msg, _ = w.r.Peek(w.size)
		}
		if _, err := w.c.Write(w.out); err != nil {
			w.fail(phase, err)
			return
		}
	}
}

// check compares an echo with the oldest message in flight and records its
// latency if the measured window is open.
func (w *loadWorker) check(msg []byte, phase *atomic.Int32) error {
	now := stamp()
	got := int64(binary.LittleEndian.Uint64(msg))
	want := w.sent[w.head]
	if got != want {
		return fmt.Errorf("echo mismatch: stamp %d, sent %d", got, want)
	}
	if !bytes.Equal(msg[stampSize:], w.tmpl) {
		return errors.New("echo mismatch: payload differs")
	}
	if phase.Load() == phaseMeasure {
		w.msgs++
		w.hist.RecordValue(min(max(now-got, histMin), histMax))
	}
	return nil
}

// fail records err unless the run is over (the deadline set at the end
// makes every worker fail).
func (w *loadWorker) fail(phase *atomic.Int32, err error) {
	if phase.Load() != phaseDone {
		w.err = err
	}
}
