package loop

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/shoalnet/shoal/codec"
)

// Balance chooses the loop of a new connection when one acceptor serves all
// loops (Unix sockets, listeners without SO_REUSEPORT, non-Linux kernels,
// the portable engine).
type Balance int

const (
	// RoundRobin hands connections to the loops in turn.
	RoundRobin Balance = iota
	// LeastConnections hands each connection to the loop with the fewest.
	LeastConnections
)

// Engine selects how the loops move bytes.
type Engine int

const (
	// EngineAuto uses the event-loop engine where the platform has one
	// (epoll, kqueue) and the portable engine elsewhere.
	EngineAuto Engine = iota
	// EngineLoops is the epoll/kqueue event-loop engine.
	EngineLoops
	// EnginePortable runs the same loops over std net, with a reader and a
	// writer goroutine per connection that only move bytes: every callback
	// still runs on a loop goroutine. It works on every platform Go
	// supports.
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
	// connection whose callback is writing (the producer, which may be the
	// consumer itself) until the queue drains below the low watermark; TCP
	// then pushes back on the producer's peer. Writes from other goroutines
	// (AsyncWrite) are queued; the task queue bounds them.
	SlowConsumerPauseProducer
)

// Config configures a Group. Start from DefaultConfig; the server package
// fills it from its options, where each field is documented.
type Config struct {
	Loops            int           // event loops (default GOMAXPROCS)
	Engine           Engine        // I/O engine (default EngineAuto)
	EdgeTriggered    bool          // register connections edge-triggered (event-loop engine only)
	ReusePort        bool          // one SO_REUSEPORT listener per loop where the kernel balances them (Linux)
	Balance          Balance       // loop choice of the single acceptor
	NoDelay          bool          // TCP_NODELAY
	KeepAlive        time.Duration // TCP keep-alive period (0: system default; <0: off)
	SendBuffer       int           // SO_SNDBUF (0: system default)
	RecvBuffer       int           // SO_RCVBUF (0: system default)
	ReadBuffer       int           // each loop's shared read buffer
	ReadPerRound     int           // bytes one connection may read per round
	MaxBufferedInput int           // unconsumed input a connection may hold
	TaskQueueSize    int           // bound of each loop's task queue
	SpinRounds       int           // non-blocking polls after a busy round
	MaxConns         int           // open connections (0: unlimited)
	MaxConnsPerIP    int           // open connections per source IP (0: unlimited)
	HighWater        int           // outbound high watermark
	LowWater         int           // outbound low watermark
	SlowPolicy       SlowConsumerPolicy
	IdleTimeout      time.Duration  // 0: never
	CloseTimeout     time.Duration  // bound of a graceful close
	TimerTick        time.Duration  // resolution of each loop's timing wheel
	TickInterval     time.Duration  // period of OnTick
	OnTick           func(loop int) // runs on every loop every TickInterval; nil: none
	Codec            codec.Codec    // framing for FrameHandler; nil: OnData
	RecordLoopStats  bool           // iteration and events-per-wake-up histograms
	StallThreshold   time.Duration  // watchdog threshold (0: off)
	DrainQuiet       time.Duration  // quiet time before a draining connection closes
	DrainSpread      time.Duration  // window over which a drain spreads its closes
	OutboundBudget   int64          // output queued over all connections (0: no cap)
	MemoryBudget     int64          // bytes buffered over all connections, enforced on every read and write (0: none; budget.go)
	TLS              *tls.Config    // serve TLS with it (cloned; tls.go); nil: plain TCP
	HandshakeTimeout time.Duration  // TLS: bound of a handshake, from accept (default DefaultHandshakeTimeout)
	MaxHandshakes    int            // TLS: handshakes run at once; more wait (default DefaultMaxHandshakes)
	Logger           *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Loops:            runtime.GOMAXPROCS(0),
		ReusePort:        true,
		NoDelay:          true,
		KeepAlive:        15 * time.Second,
		ReadBuffer:       64 << 10,
		ReadPerRound:     1 << 20,
		MaxBufferedInput: 64 << 20,
		TaskQueueSize:    64 << 10,
		SpinRounds:       1,
		HighWater:        4 << 20,
		LowWater:         1 << 20,
		CloseTimeout:     5 * time.Second,
		TimerTick:        100 * time.Millisecond,
		StallThreshold:   2 * time.Second,
		DrainQuiet:       100 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.Loops < 1:
		return fmt.Errorf("loop: loops must be at least 1, got %d", c.Loops)
	case c.ReadBuffer < 512:
		return fmt.Errorf("loop: read buffer must be at least 512 bytes, got %d", c.ReadBuffer)
	case c.ReadPerRound < c.ReadBuffer:
		return fmt.Errorf("loop: read cap per round (%d) must be at least the read buffer (%d)", c.ReadPerRound, c.ReadBuffer)
	case c.MaxBufferedInput < 1:
		return fmt.Errorf("loop: max buffered input must be positive, got %d", c.MaxBufferedInput)
	case c.TaskQueueSize < 1:
		return fmt.Errorf("loop: task queue size must be positive, got %d", c.TaskQueueSize)
	case c.SpinRounds < 0:
		return fmt.Errorf("loop: spin rounds must not be negative, got %d", c.SpinRounds)
	case c.SendBuffer < 0 || c.RecvBuffer < 0:
		return fmt.Errorf("loop: socket buffer sizes must not be negative")
	case c.Balance != RoundRobin && c.Balance != LeastConnections:
		return fmt.Errorf("loop: unknown balance %d", c.Balance)
	case c.Engine < EngineAuto || c.Engine > EnginePortable:
		return fmt.Errorf("loop: unknown engine %d", c.Engine)
	case c.MaxConns < 0 || c.MaxConnsPerIP < 0:
		return fmt.Errorf("loop: connection limits must not be negative")
	case c.OutboundBudget < 0 || c.MemoryBudget < 0:
		return fmt.Errorf("loop: budgets must not be negative")
	case c.HandshakeTimeout < 0 || c.MaxHandshakes < 0:
		return fmt.Errorf("loop: the TLS handshake timeout and limit must not be negative")
	case c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil:
		return fmt.Errorf("loop: the TLS config has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	case c.LowWater < 0 || c.HighWater <= c.LowWater:
		return fmt.Errorf("loop: watermarks need 0 <= low < high, got low %d high %d", c.LowWater, c.HighWater)
	case c.SlowPolicy < SlowConsumerClose || c.SlowPolicy > SlowConsumerPauseProducer:
		return fmt.Errorf("loop: unknown slow-consumer policy %d", c.SlowPolicy)
	case c.IdleTimeout < 0 || c.CloseTimeout < 0 || c.StallThreshold < 0 || c.DrainQuiet < 0 || c.DrainSpread < 0:
		return fmt.Errorf("loop: timeouts must not be negative")
	case c.TimerTick < time.Millisecond:
		return fmt.Errorf("loop: timer tick must be at least 1ms, got %v", c.TimerTick)
	case c.OnTick != nil && c.TickInterval < c.TimerTick:
		return fmt.Errorf("loop: loop tick interval %v is shorter than the timer tick %v", c.TickInterval, c.TimerTick)
	case c.Logger == nil:
		return fmt.Errorf("loop: nil logger")
	case c.Engine == EngineLoops && !hasPoller:
		return fmt.Errorf("loop: the event-loop engine is not available on %s", runtime.GOOS)
	case c.EdgeTriggered && !c.pollEngine():
		return fmt.Errorf("loop: the portable engine has no edge-triggered mode")
	}
	return nil
}

// pollEngine reports whether c selects the epoll/kqueue engine.
func (c *Config) pollEngine() bool {
	return hasPoller && c.Engine != EnginePortable
}
