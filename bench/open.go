package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// openConfig is one open-loop echo case.
type openConfig struct {
	addr     string
	conns    int
	size     int           // message size in bytes, at least stampSize
	rate     float64       // messages per second over all connections
	warmup   time.Duration // not measured
	duration time.Duration // measured
}

// schedule is the fixed send times of one connection: message k is due at
// first + k×interval, in nanoseconds on the clock of stamp.
type schedule struct {
	first    int64
	interval float64
}

// at returns when message k is due.
func (s schedule) at(k int64) int64 { return s.first + int64(float64(k)*s.interval) }

// due returns how many messages are due at now: the number of k ≥ 0 with
// at(k) ≤ now.
func (s schedule) due(now int64) int64 {
	if now < s.first {
		return 0
	}
	n := int64(float64(now-s.first)/s.interval) + 1
	for n > 0 && s.at(n-1) > now { // float rounding, either way
		n--
	}
	for s.at(n) <= now {
		n++
	}
	return n
}

// schedules spreads rate messages per second evenly over conns
// connections that start at start: each sends rate/conns per second, and
// connection i starts i/rate seconds after the first, so that the sends of
// all of them together are 1/rate apart.
func schedules(start int64, conns int, rate float64) []schedule {
	gap := float64(time.Second) / rate
	s := make([]schedule, conns)
	for i := range s {
		s[i] = schedule{first: start + int64(float64(i)*gap), interval: gap * float64(conns)}
	}
	return s
}

// maxBatch bounds the messages a late sender writes at once.
const maxBatch = 256

// pace wakes each connection's sender when its next message is due, until
// stop is closed. Go timers can wake a millisecond late when the process
// is idle (the runtime's poller sleeps in whole milliseconds), which would
// be counted as latency, so one goroutine on a thread of its own sleeps
// with nanosleep at a timer slack of 1 ns instead and kicks the senders;
// a kick never blocks, and a busy sender gets one kick however many pile up.
func pace(scheds []schedule, kicks []chan struct{}, stop <-chan struct{}) {
	// The thread goes back to the runtime with its default slack (0 resets
	// it): a goroutine that exits locked would end its thread, and with it
	// any server process started from that thread (Pdeathsig).
	const prSetTimerSlack = 29
	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	defer func() {
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 0, 0)
		runtime.UnlockOSThread()
	}()
	next := make([]int64, len(scheds)) // per connection: the next message not kicked for
	j := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		// The schedules are interleaved: the connections' messages fall due
		// in turn, 0, 1, ... n-1, 0, 1, ... Long sleeps are cut into slices
		// of maxPaceSleep, so that stop is seen soon.
		if d := scheds[j].at(next[j]) - stamp(); d > 0 {
			ts := syscall.NsecToTimespec(min(d, int64(maxPaceSleep)))
			syscall.Nanosleep(&ts, nil)
			continue
		}
		next[j]++
		select {
		case kicks[j] <- struct{}{}:
		default:
		}
		j = (j + 1) % len(scheds)
	}
}

// maxPaceSleep is the longest the pacer sleeps before it looks at its stop
// channel again.
const maxPaceSleep = 50 * time.Millisecond

// runOpen is an open-loop load generator: cfg.conns connections send
// cfg.rate messages per second in total on a fixed schedule, whatever the
// echoes do. A late sender catches up at once, and every message carries
// the time it was due, not the time it was written, so latency runs from
// the schedule: a stalled server cannot hold back the sends it would delay
// (no coordinated omission). Echoes are read by a goroutine of their own
// per connection and compared with what was sent. onWindow runs at the
// start (true) and the end (false) of the measured window.
func runOpen(cfg openConfig, onWindow func(start bool)) (loadResult, error) {
	if cfg.size < stampSize {
		return loadResult{}, fmt.Errorf("message size %d is below %d bytes", cfg.size, stampSize)
	}
	if cfg.rate <= 0 {
		return loadResult{}, fmt.Errorf("rate %v is not positive", cfg.rate)
	}
	conns, err := dialLoad(cfg.addr, cfg.conns, nil)
	if err != nil {
		return loadResult{}, err
	}
	defer closeAll(conns)

	var phase atomic.Int32
	stop := make(chan struct{})
	scheds := schedules(stamp()+int64(10*time.Millisecond), len(conns), cfg.rate)
	workers := make([]*openWorker, len(conns))
	kicks := make([]chan struct{}, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		w := newOpenWorker(i, c, cfg.size, scheds[i])
		workers[i] = w
		kicks[i] = make(chan struct{}, 1)
		wg.Add(2)
		go func() {
			defer wg.Done()
			w.send(&phase, kicks[i], stop)
		}()
		go func() {
			defer wg.Done()
			w.receive(&phase)
		}()
	}
	wg.Go(func() { pace(scheds, kicks, stop) })

	window := measureWindow(&phase, cfg.warmup, cfg.duration, onWindow)
	close(stop)
	unblockAll(conns)
	wg.Wait()

	res := loadResult{window: window, hist: newHist(), lag: newHist()}
	for _, w := range workers {
		res.msgs += w.msgs
		res.hist.Merge(w.hist)
		res.lag.Merge(w.lag)
		if w.mismatch {
			res.mismatch++
		}
		for _, err := range []error{w.rerr, w.werr} {
			if err != nil && res.firstErr == nil {
				res.firstErr = err
			}
		}
		if !w.mismatch && (w.rerr != nil || w.werr != nil) {
			res.errors++
		}
	}
	return res, nil
}

// openWorker drives one connection of the open loop: send writes on the
// schedule, receive reads and checks the echoes.
type openWorker struct {
	c    *net.TCPConn
	size int
	tmpl []byte // the bytes after the stamp
	sch  schedule

	werr error                   // owned by send
	lag  *hdrhistogram.Histogram // owned by send: how late messages were written

	// owned by receive
	hist     *hdrhistogram.Histogram
	msgs     int64
	mismatch bool
	rerr     error
}

func newOpenWorker(id int, c *net.TCPConn, size int, sch schedule) *openWorker {
	tmpl := make([]byte, size-stampSize)
	for i := range tmpl {
		tmpl[i] = byte(id*31 + i*7 + 1)
	}
	return &openWorker{c: c, size: size, tmpl: tmpl, sch: sch, hist: newHist(), lag: newHist()}
}

// send writes every message when it is due, stamped with its due time,
// until stop is closed: on each kick, it writes what is due (up to
// maxBatch messages at a time) and records how late the first was.
func (w *openWorker) send(phase *atomic.Int32, kick <-chan struct{}, stop <-chan struct{}) {
	out := make([]byte, 0, w.size*maxBatch)
	var next int64 // the first message not written yet
	for {
		now := stamp()
		n := min(w.sch.due(now), next+maxBatch)
		if n == next {
			select {
			case <-stop:
				return
			case <-kick:
			}
			continue
		}
		if phase.Load() == phaseMeasure {
			w.lag.RecordValue(min(max(now-w.sch.at(next), histMin), histMax))
		}
		out = out[:0]
		for k := next; k < n; k++ {
			out = binary.LittleEndian.AppendUint64(out, uint64(w.sch.at(k)))
			out = append(out, w.tmpl...)
		}
		if _, err := w.c.Write(out); err != nil {
			if phase.Load() != phaseDone {
				w.werr = err
			}
			return
		}
		next = n
	}
}

// receive reads the echoes in order, checks each against the message due
// at the same place in the schedule, and records its latency from the due
// time if the measured window is open.
func (w *openWorker) receive(phase *atomic.Int32) {
	r := bufio.NewReaderSize(w.c, max(4<<10, w.size))
	for k := int64(0); ; k++ {
		msg, err := r.Peek(w.size)
		if err != nil {
			if phase.Load() != phaseDone {
				w.rerr = err
			}
			return
		}
		now := stamp()
		got, want := int64(binary.LittleEndian.Uint64(msg)), w.sch.at(k)
		switch {
		case got != want:
			w.mismatch, w.rerr = true, fmt.Errorf("echo mismatch: message %d stamped %d, sent %d", k, got, want)
			return
		case !bytes.Equal(msg[stampSize:], w.tmpl):
			w.mismatch, w.rerr = true, errors.New("echo mismatch: payload differs")
			return
		}
		if phase.Load() == phaseMeasure {
			w.msgs++
			w.hist.RecordValue(min(max(now-got, histMin), histMax))
		}
		r.Discard(w.size)
	}
}

const openLegend = `
Open loop: the connections send the scheduled rate between them at fixed times, evenly spread,
whether or not the echoes keep up, and every message carries the time it was due. p50/p99/p999
run from that due time to having read the whole echo, so a server that holds the sender back
is charged for it (no coordinated omission). msgs/s achieved counts echoes read back in the
measured window; below the scheduled rate, the server or the client could not keep up. send
lag p99 is how late messages were written after they were due: the load generator's own timing
error (one pacing thread sleeps with nanosleep and wakes the senders; a busy machine delays it),
or a server that stopped reading; either way it is part of the latencies, and a row whose lag
is close to its p99 says more about the client than about the server. At a fixed rate, msgs per
server CPU-s compares what the same load costs each server (CPU time has 10 ms resolution).
`
