package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
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
	tls      *tls.Config   // the connections speak TLS with it (nil: plain TCP)
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
	return runClosedLoop(cfg.addr, cfg.conns, cfg.warmup, cfg.duration, onWindow, nil, nil, func(i int, c net.Conn) connWorker {
		return newLoadWorker(i, c, cfg.size, cfg.depth)
	})
}

// runClosedLoop is the skeleton of the closed-loop load generators: it
// dials n connections to addr, runs setup on each (nil: none; a protocol's
// handshake, done before any load), runs the worker that newWorker makes
// for each one on a goroutine of its own, opens the measured window after
// warmup for duration (calling onWindow as runLoad does), then stops the
// workers and adds up their tallies.
func runClosedLoop(addr string, n int, warmup, duration time.Duration, onWindow func(start bool),
	tlsCfg *tls.Config, setup func(i int, c net.Conn) error, newWorker func(i int, c net.Conn) connWorker,
) (loadResult, error) {
	var mu sync.Mutex
	views := make(map[*net.TCPConn]net.Conn, n) // what the workers speak on: c, or TLS over it
	conns, err := dialLoad(addr, n, func(i int, c *net.TCPConn) error {
		var v net.Conn = c
		if tlsCfg != nil {
			tc := tls.Client(c, tlsCfg)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				return err
			}
			c.SetDeadline(time.Time{})
			v = tc
		}
		mu.Lock()
		views[c] = v
		mu.Unlock()
		if setup != nil {
			return setup(i, v)
		}
		return nil
	})
	if err != nil {
		return loadResult{}, err
	}
	defer closeAll(conns)

	var phase atomic.Int32
	workers := make([]connWorker, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		w := newWorker(i, views[c])
		workers[i] = w
		wg.Go(func() { w.run(&phase) })
	}
	window := measureWindow(&phase, warmup, duration, onWindow)
	unblockAll(conns)
	wg.Wait()

	res := loadResult{window: window, hist: newHist()}
	for _, w := range workers {
		t := w.counts()
		res.msgs += t.msgs
		res.hist.Merge(t.hist)
		if t.mismatch {
			res.mismatch++
		}
		if t.err != nil {
			if !t.mismatch {
				res.errors++
			}
			if res.firstErr == nil {
				res.firstErr = t.err
			}
		}
	}
	return res, nil
}

// measureWindow sleeps through the warm-up, then opens the measured window
// for duration: phase is phaseMeasure while it is open and phaseDone once
// it has closed, and onWindow runs just before it opens (true) and just
// after it closes (false). It returns the window's length.
func measureWindow(phase *atomic.Int32, warmup, duration time.Duration, onWindow func(start bool)) time.Duration {
	time.Sleep(warmup)
	onWindow(true)
	t0 := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(duration)
	phase.Store(phaseDone)
	window := time.Since(t0)
	onWindow(false)
	return window
}

// connWorker drives one connection of a closed-loop run.
type connWorker interface {
	// run returns when its connection fails or the run is over.
	run(phase *atomic.Int32)
	// counts returns what run measured; it is read once run has returned.
	counts() *tally
}

// tally is what the worker of one connection measured. Embedded in a
// worker, it gives the worker its counts and fail methods. It is owned by
// the worker's goroutine until the run is over.
type tally struct {
	hist     *hdrhistogram.Histogram
	msgs     int64 // answers read completely in the measured window
	mismatch bool  // an answer was not what was asked for
	err      error // why the worker stopped before the end of the run
}

func (t *tally) counts() *tally { return t }

// fail records err unless the run is over (the deadline set at the end
// makes every worker fail).
func (t *tally) fail(phase *atomic.Int32, err error) {
	if phase.Load() != phaseDone {
		t.err = err
	}
}

// loadWorker drives one connection.
type loadWorker struct {
	c     net.Conn
	r     *bufio.Reader
	size  int
	depth int
	out   []byte
	inflight
}

// inflight is what a load connection has in flight and counts: the
// stamps of its messages, oldest first, and the bytes after the stamp.
type inflight struct {
	tmpl []byte  // the bytes after the stamp, the same in every message of this connection
	sent []int64 // stamps in flight, a FIFO ring of depth entries
	head int
	tally
}

func newLoadWorker(id int, c net.Conn, size, depth int) *loadWorker {
	tmpl := make([]byte, size-stampSize)
	for i := range tmpl {
		tmpl[i] = byte(id*31 + i*7 + 1)
	}
	bufSize := min(max(size*depth, 4<<10), 64<<10)
	return &loadWorker{
		c:        c,
		r:        bufio.NewReaderSize(c, max(bufSize, size)),
		size:     size,
		depth:    depth,
		out:      make([]byte, 0, size*depth),
		inflight: inflight{tmpl: tmpl, sent: make([]int64, depth), tally: tally{hist: newHist()}},
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
func (w *inflight) check(msg []byte, phase *atomic.Int32) error {
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
