package server

import (
	"fmt"

	"github.com/shoalnet/shoal/codec"
	"io"
	"log/slog"
	"runtime"
	"time"
)

// Balance chooses the loop of a new connection when one acceptor serves all
// loops (Unix sockets, listeners without SO_REUSEPORT, non-Linux kernels).
type Balance int

const (
	// RoundRobin hands connections to the loops in turn.
	RoundRobin Balance = iota
	// LeastConnections hands each connection to the loop with the fewest.
	LeastConnections
)

// Engine selects the I/O engine.
type Engine int

const (
	// EngineAuto uses the event-loop engine where the platform has one
	// (epoll, kqueue) and the portable engine elsewhere.
	EngineAuto Engine = iota
	// EngineLoops is the epoll/kqueue event-loop engine.
	EngineLoops
	// EnginePortable runs std net with a goroutine per connection behind the
	// same Handler API. It works on every platform Go supports.
	EnginePortable
)

// SlowConsumerPolicy says what a write does when it would take a
// connection's outbound queue above the high watermark.
type SlowConsumerPolicy int

const (
	// SlowConsumerClose closes the connection with ErrSlowConsumer.
	SlowConsumerClose SlowConsumerPolicy = iota
	// SlowConsumerDrop drops the write, which returns ErrDropped.
	SlowConsumerDrop
	// SlowConsumerPauseProducer queues the write and pauses reading on the
	// connection whose OnData is writing (the producer, which may be the
	// consumer itself) until the queue drains below the low watermark; TCP
	// then pushes back on the producer's peer. Writes from other goroutines
	// (AsyncWrite) are queued; the task queue bounds them.
	SlowConsumerPauseProducer
)

// Option configures a Server.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	loops         int
	engine        Engine
	edge          bool
	reusePort     bool
	reusePortSet  bool // WithReusePort was given
	balance       Balance
	noDelay       bool
	keepAlive     time.Duration
	sndBuf        int
	rcvBuf        int
	readBufSize   int
	readPerRound  int
	maxInput      int
	taskQueueSize int
	spinRounds    int
	maxConns      int
	maxConnsPerIP int
	highWater     int
	lowWater      int
	slowPolicy    SlowConsumerPolicy
	idleTimeout   time.Duration
	closeTimeout  time.Duration
	timerTick     time.Duration
	loopTick      time.Duration
	loopTickFn    func(loop int)
	codec         codec.Codec
	loopStats     bool
	stallAfter    time.Duration
	drainQuiet    time.Duration
	drainSpread   time.Duration
	outBudget     int64
	logger        *slog.Logger
}

func defaultOptions() options {
	return options{
		loops:         runtime.GOMAXPROCS(0),
		reusePort:     true,
		noDelay:       true,
		keepAlive:     15 * time.Second,
		readBufSize:   64 << 10,
		readPerRound:  1 << 20,
		maxInput:      64 << 20,
		taskQueueSize: 64 << 10,
		spinRounds:    1,
		highWater:     4 << 20,
		lowWater:      1 << 20,
		closeTimeout:  5 * time.Second,
		timerTick:     100 * time.Millisecond,
		stallAfter:    2 * time.Second,
		drainQuiet:    100 * time.Millisecond,
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (o *options) validate() error {
	switch {
	case o.loops < 1:
		return fmt.Errorf("server: loops must be at least 1, got %d", o.loops)
	case o.readBufSize < 512:
		return fmt.Errorf("server: read buffer must be at least 512 bytes, got %d", o.readBufSize)
	case o.readPerRound < o.readBufSize:
		return fmt.Errorf("server: read cap per round (%d) must be at least the read buffer (%d)", o.readPerRound, o.readBufSize)
	case o.maxInput < 1:
		return fmt.Errorf("server: max buffered input must be positive, got %d", o.maxInput)
	case o.taskQueueSize < 1:
		return fmt.Errorf("server: task queue size must be positive, got %d", o.taskQueueSize)
	case o.spinRounds < 0:
		return fmt.Errorf("server: spin rounds must not be negative, got %d", o.spinRounds)
	case o.sndBuf < 0 || o.rcvBuf < 0:
		return fmt.Errorf("server: socket buffer sizes must not be negative")
	case o.balance != RoundRobin && o.balance != LeastConnections:
		return fmt.Errorf("server: unknown balance %d", o.balance)
	case o.engine < EngineAuto || o.engine > EnginePortable:
		return fmt.Errorf("server: unknown engine %d", o.engine)
	case o.maxConns < 0 || o.maxConnsPerIP < 0:
		return fmt.Errorf("server: connection limits must not be negative")
	case o.outBudget < 0:
		return fmt.Errorf("server: outbound budget must not be negative")
	case o.lowWater < 0 || o.highWater <= o.lowWater:
		return fmt.Errorf("server: watermarks need 0 <= low < high, got low %d high %d", o.lowWater, o.highWater)
	case o.slowPolicy < SlowConsumerClose || o.slowPolicy > SlowConsumerPauseProducer:
		return fmt.Errorf("server: unknown slow-consumer policy %d", o.slowPolicy)
	case o.idleTimeout < 0 || o.closeTimeout < 0 || o.stallAfter < 0 || o.drainQuiet < 0 || o.drainSpread < 0:
		return fmt.Errorf("server: timeouts must not be negative")
	case o.timerTick < time.Millisecond:
		return fmt.Errorf("server: timer tick must be at least 1ms, got %v", o.timerTick)
	case o.loopTickFn != nil && o.loopTick < o.timerTick:
		return fmt.Errorf("server: loop tick interval %v is shorter than the timer tick %v", o.loopTick, o.timerTick)
	case o.logger == nil:
		return fmt.Errorf("server: nil logger")
	}
	return nil
}

// WithLoops sets the number of event loops. The default is GOMAXPROCS, which
// the Go runtime derives from the CPU quota of the container and keeps
// current.
func WithLoops(n int) Option { return optionFunc(func(o *options) { o.loops = n }) }

// WithEngine selects the I/O engine (default EngineAuto).
func WithEngine(e Engine) Option { return optionFunc(func(o *options) { o.engine = e }) }

// WithEdgeTriggered registers connections edge-triggered (EPOLLET/EV_CLEAR)
// instead of level-triggered.
func WithEdgeTriggered(on bool) Option { return optionFunc(func(o *options) { o.edge = on }) }

// WithReusePort controls whether, on Linux, each loop gets its own
// SO_REUSEPORT listener so that the kernel balances connections (default
// on). Off, or where unsupported, one acceptor balances by WithBalance.
func WithReusePort(on bool) Option {
	return optionFunc(func(o *options) { o.reusePort, o.reusePortSet = on, true })
}

// WithBalance sets how the single acceptor picks a loop (default RoundRobin).
func WithBalance(b Balance) Option { return optionFunc(func(o *options) { o.balance = b }) }

// WithTCPNoDelay sets TCP_NODELAY on accepted connections (default on).
func WithTCPNoDelay(on bool) Option { return optionFunc(func(o *options) { o.noDelay = on }) }

// WithTCPKeepAlive sets the keep-alive period of accepted connections
// (default 15s; negative disables keep-alive; 0 keeps the system default).
func WithTCPKeepAlive(d time.Duration) Option {
	return optionFunc(func(o *options) { o.keepAlive = d })
}

// WithSocketBuffers sets SO_SNDBUF and SO_RCVBUF of accepted connections
// (0 keeps the system default).
func WithSocketBuffers(snd, rcv int) Option {
	return optionFunc(func(o *options) { o.sndBuf, o.rcvBuf = snd, rcv })
}

// WithReadBuffer sets the size of each loop's shared read buffer (default
// 64 KiB). Connections hold no read buffer of their own while idle.
func WithReadBuffer(n int) Option { return optionFunc(func(o *options) { o.readBufSize = n }) }

// WithReadPerRound caps how many bytes one connection may read per event
// round, so a fast sender cannot starve the others on its loop (default 1 MiB).
func WithReadPerRound(n int) Option { return optionFunc(func(o *options) { o.readPerRound = n }) }

// WithMaxBufferedInput caps the unconsumed input a connection may hold; a
// connection past it is closed with ErrInputTooLarge (default 64 MiB).
func WithMaxBufferedInput(n int) Option { return optionFunc(func(o *options) { o.maxInput = n }) }

// WithTaskQueueSize bounds each loop's task queue (AsyncWrite); a full queue
// makes AsyncWrite return ErrQueueFull (default 65536).
func WithTaskQueueSize(n int) Option { return optionFunc(func(o *options) { o.taskQueueSize = n }) }

// WithSpinRounds sets how many non-blocking polls a loop makes after a busy
// round before it blocks in the kernel (default 1).
func WithSpinRounds(n int) Option { return optionFunc(func(o *options) { o.spinRounds = n }) }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithMaxConns caps the open connections of the server (0, the default:
// unlimited). Connections past the cap are closed right after accept,
// before OnOpen, and counted in Stats.Refused.
func WithMaxConns(n int) Option { return optionFunc(func(o *options) { o.maxConns = n }) }

// WithMaxConnsPerIP caps the open connections from one source IP (0, the
// default: unlimited), refusing the extra ones like WithMaxConns.
func WithMaxConnsPerIP(n int) Option { return optionFunc(func(o *options) { o.maxConnsPerIP = n }) }

// WithWatermarks sets each connection's outbound high and low watermarks
// (defaults 4 MiB and 1 MiB). A write that would take the queue above high
// meets the slow-consumer policy; TryWrite fails instead. Once the queue has
// drained below low, OnWritable runs and paused producers resume.
func WithWatermarks(high, low int) Option {
	return optionFunc(func(o *options) { o.highWater, o.lowWater = high, low })
}

// WithSlowConsumerPolicy sets what a write above the high watermark does
// (default SlowConsumerClose).
func WithSlowConsumerPolicy(p SlowConsumerPolicy) Option {
	return optionFunc(func(o *options) { o.slowPolicy = p })
}

// WithIdleTimeout closes connections that have neither read nor written
// for d with ErrIdleTimeout (default 0: never). Conn.SetIdleTimeout
// overrides it per connection.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.idleTimeout = d })
}

// WithCloseTimeout bounds how long Close may take to flush queued output
// and wait for the peer's FIN before the connection is closed regardless
// (default 5s; 0 closes right after the flush, without waiting).
func WithCloseTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.closeTimeout = d })
}

// WithTimerTick sets the resolution of each loop's timing wheel (default
// 100ms): timeouts and deadlines fire within one tick of being due.
func WithTimerTick(d time.Duration) Option { return optionFunc(func(o *options) { o.timerTick = d }) }

// WithLoopTick runs fn on every loop goroutine every interval (rounded to
// the timer tick). fn receives the loop index and must not block.
func WithLoopTick(interval time.Duration, fn func(loop int)) Option {
	return optionFunc(func(o *options) { o.loopTick, o.loopTickFn = interval, fn })
}

// WithCodec attaches a framing codec: the handler, which must implement
// FrameHandler, receives whole frames through OnFrame instead of bytes
// through OnData, and replies with Conn.WriteFrame. Input the codec rejects
// (ErrFrameTooLarge, ErrMalformed, ...) closes the connection with that
// error as the reason, after what was already answered has been flushed.
func WithCodec(c codec.Codec) Option { return optionFunc(func(o *options) { o.codec = c }) }

// WithLoopStats records, per loop, a histogram of iteration durations and
// one of events per wake-up, reported in Stats (default off: it costs two
// clock reads and a few atomic adds per iteration).
func WithLoopStats(on bool) Option { return optionFunc(func(o *options) { o.loopStats = on }) }

// WithStallThreshold sets after how long a loop that is busy (not waiting
// for events) counts as stalled: a watchdog logs it with the loop's stack
// and counts it in Stats.Stalls (default 2s; 0 turns the watchdog off).
func WithStallThreshold(d time.Duration) Option {
	return optionFunc(func(o *options) { o.stallAfter = d })
}

// WithDrainQuiet sets how long a connection must have been without
// traffic, with nothing unread and nothing queued, before Shutdown closes
// it (default 100ms).
func WithDrainQuiet(d time.Duration) Option { return optionFunc(func(o *options) { o.drainQuiet = d }) }

// WithDrainSpread spreads Shutdown's closes over a window: each connection
// waits a random part of d first, so that clients do not all reconnect at
// the same instant (default 0: close as soon as idle).
func WithDrainSpread(d time.Duration) Option {
	return optionFunc(func(o *options) { o.drainSpread = d })
}

// WithOutboundBudget caps the output queued over all connections (default
// 0: no cap). A write to a connection that already has output queued, and
// that would take the total above the budget, meets the slow-consumer
// policy like one above the connection's high watermark. The policy hits
// the connection being written to, which need not be the one holding the
// most; to close the largest queues first, use ShedSlowConsumers (the
// memory governor does).
func WithOutboundBudget(bytes int64) Option {
	return optionFunc(func(o *options) { o.outBudget = bytes })
}
