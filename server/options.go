package server

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/loop"
)

// Option configures a Server.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options are the loop group's configuration; the server adds nothing of
// its own.
type options struct {
	cfg loop.Config
}

func defaultOptions() options { return options{cfg: loop.DefaultConfig()} }

// WithLoops sets the number of event loops. The default is GOMAXPROCS, which
// the Go runtime derives from the CPU quota of the container and keeps
// current.
func WithLoops(n int) Option { return optionFunc(func(o *options) { o.cfg.Loops = n }) }

// WithEngine selects the I/O engine (default EngineAuto).
func WithEngine(e Engine) Option { return optionFunc(func(o *options) { o.cfg.Engine = e }) }

// WithReusePort controls whether, on Linux, each loop gets its own
// SO_REUSEPORT listener so that the kernel balances connections (default
// on). Off, or where unsupported, one acceptor balances by WithBalance.
func WithReusePort(on bool) Option {
	return optionFunc(func(o *options) { o.cfg.ReusePort = on })
}

// WithBalance sets how the single acceptor picks a loop (default RoundRobin).
func WithBalance(b Balance) Option { return optionFunc(func(o *options) { o.cfg.Balance = b }) }

// WithTCPNoDelay sets TCP_NODELAY on accepted connections (default on).
func WithTCPNoDelay(on bool) Option { return optionFunc(func(o *options) { o.cfg.NoDelay = on }) }

// WithTCPKeepAlive sets the keep-alive period of accepted connections
// (default 15s; negative disables keep-alive; 0 keeps the system default).
func WithTCPKeepAlive(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.KeepAlive = d })
}

// WithSocketBuffers sets SO_SNDBUF and SO_RCVBUF of accepted connections
// (0 keeps the system default).
func WithSocketBuffers(snd, rcv int) Option {
	return optionFunc(func(o *options) { o.cfg.SendBuffer, o.cfg.RecvBuffer = snd, rcv })
}

// WithReadBuffer sets the size of each loop's shared read buffer (default
// 64 KiB). Connections hold no read buffer of their own while idle.
func WithReadBuffer(n int) Option { return optionFunc(func(o *options) { o.cfg.ReadBuffer = n }) }

// WithMaxBufferedInput caps the unconsumed input a connection may hold; a
// connection past it is closed with ErrInputTooLarge (default 64 MiB).
func WithMaxBufferedInput(n int) Option {
	return optionFunc(func(o *options) { o.cfg.MaxBufferedInput = n })
}

// WithTaskQueueSize bounds each loop's task queue (AsyncWrite); a full queue
// makes AsyncWrite return ErrQueueFull (default 65536).
func WithTaskQueueSize(n int) Option { return optionFunc(func(o *options) { o.cfg.TaskQueueSize = n }) }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.cfg.Logger = l }) }

// WithMaxConns caps the open connections of the server (0, the default:
// unlimited). Connections past the cap are closed right after accept,
// before OnOpen, and counted in Stats.Refused.
func WithMaxConns(n int) Option { return optionFunc(func(o *options) { o.cfg.MaxConns = n }) }

// WithMaxConnsPerIP caps the open connections from one source IP (0, the
// default: unlimited), refusing the extra ones like WithMaxConns.
func WithMaxConnsPerIP(n int) Option { return optionFunc(func(o *options) { o.cfg.MaxConnsPerIP = n }) }

// WithWatermarks sets each connection's outbound high and low watermarks
// (defaults 4 MiB and 1 MiB). A write that would take the queue above high
// meets the slow-consumer policy; TryWrite fails instead (as it does when
// the memory budget has no room). Once the queue has drained below low,
// OnWritable runs and paused producers resume.
func WithWatermarks(high, low int) Option {
	return optionFunc(func(o *options) { o.cfg.HighWater, o.cfg.LowWater = high, low })
}

// WithSlowConsumerPolicy sets what a write above the high watermark does
// (default SlowConsumerClose).
func WithSlowConsumerPolicy(p SlowConsumerPolicy) Option {
	return optionFunc(func(o *options) { o.cfg.SlowPolicy = p })
}

// WithIdleTimeout closes connections that have neither read nor written
// for d with ErrIdleTimeout (default 0: never). Conn.SetIdleTimeout
// overrides it per connection.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.IdleTimeout = d })
}

// WithCloseTimeout bounds how long Close may take to flush queued output
// and wait for the peer's FIN before the connection is closed regardless
// (default 5s; 0 closes right after the flush, without waiting).
func WithCloseTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.CloseTimeout = d })
}

// WithLoopTick runs fn on every loop goroutine every interval (rounded to
// the timer tick). fn receives the loop index and must not block.
func WithLoopTick(interval time.Duration, fn func(loop int)) Option {
	return optionFunc(func(o *options) { o.cfg.TickInterval, o.cfg.OnTick = interval, fn })
}

// WithCodec attaches a framing codec: the handler, which must implement
// FrameHandler, receives whole frames through OnFrame instead of bytes
// through OnData, and replies with Conn.WriteFrame. Input the codec rejects
// (ErrFrameTooLarge, ErrMalformed, ...) closes the connection with that
// error as the reason, after what was already answered has been flushed.
func WithCodec(c codec.Codec) Option { return optionFunc(func(o *options) { o.cfg.Codec = c }) }

// WithLoopStats records, per loop, a histogram of iteration durations and
// one of events per wake-up, reported in Stats (default off: it costs two
// clock reads and a few atomic adds per iteration).
func WithLoopStats(on bool) Option {
	return optionFunc(func(o *options) { o.cfg.RecordLoopStats = on })
}

// WithStallThreshold sets after how long a loop that is busy (not waiting
// for events) counts as stalled: a watchdog logs it with the loop's stack
// and counts it in Stats.Stalls (default 2s; 0 turns the watchdog off).
func WithStallThreshold(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.StallThreshold = d })
}

// WithDrainQuiet sets how long a connection must have been without
// traffic, with nothing unread and nothing queued, before Shutdown closes
// it (default 100ms).
func WithDrainQuiet(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.DrainQuiet = d })
}

// WithDrainSpread spreads Shutdown's closes over a window: each connection
// waits a random part of d first, so that clients do not all reconnect at
// the same instant (default 0: close as soon as idle).
func WithDrainSpread(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cfg.DrainSpread = d })
}

// WithOutboundBudget caps the output queued over all connections (default
// 0: no cap). A write to a connection that already has output queued, and
// that would take the total above the budget, meets the slow-consumer
// policy like one above the connection's high watermark. The policy hits
// the connection being written to, which need not be the one holding the
// most; to close the largest queues first, use ShedSlowConsumers (the
// memory governor does).
func WithOutboundBudget(bytes int64) Option {
	return optionFunc(func(o *options) { o.cfg.OutboundBudget = bytes })
}

// Tuning holds engine internals that rarely need changing: the defaults
// were measured on the workloads the engine is built for. A zero field
// keeps its default.
type Tuning struct {
	// TimerTick is the resolution of each loop's timing wheel (default
	// 100ms, at least 1ms): timeouts, deadlines and AfterFunc fire within
	// one tick of being due.
	TimerTick time.Duration
	// ReadPerRound caps how many bytes one connection may read per event
	// round, so that a fast sender cannot starve the others on its loop
	// (default 1 MiB; at least the read buffer).
	ReadPerRound int
	// SpinRounds is how many non-blocking polls a loop makes after a busy
	// round before it blocks in the kernel (default 1; negative: 0).
	SpinRounds int
	// EdgeTriggered registers connections edge-triggered (EPOLLET,
	// EV_CLEAR) instead of level-triggered. The portable engine has no
	// such mode: New refuses it there.
	EdgeTriggered bool
}

// WithMemoryBudget bounds the bytes the engine buffers over all
// connections, output queued and input held, by checks where the memory is
// taken: before every read and before output is queued (default 0: none;
// the memory governor sets one from the container's limit). Above three
// quarters of it, connections holding more than their share of output are
// not read, and producers writing to others are paused; no read takes more
// than is left; a write that would pass it closes the loop's largest
// queues as slow consumers; a paused connection whose output stands still
// for 2s is closed as a slow consumer. SetMemoryBudget changes it later.
func WithMemoryBudget(bytes int64) Option {
	return optionFunc(func(o *options) { o.cfg.MemoryBudget = bytes })
}

// WithTuning sets engine internals; see Tuning.
func WithTuning(t Tuning) Option {
	return optionFunc(func(o *options) {
		if t.TimerTick != 0 {
			o.cfg.TimerTick = t.TimerTick
		}
		if t.ReadPerRound != 0 {
			o.cfg.ReadPerRound = t.ReadPerRound
		}
		switch {
		case t.SpinRounds > 0:
			o.cfg.SpinRounds = t.SpinRounds
		case t.SpinRounds < 0:
			o.cfg.SpinRounds = 0
		}
		o.cfg.EdgeTriggered = o.cfg.EdgeTriggered || t.EdgeTriggered
	})
}

// WithTLS serves TLS (1.2 and 1.3) with cfg, on the loops and with
// crypto/tls as the standard library ships it: each handshake runs on a
// goroutine of a bounded set (WithTLSHandshakes), never one per idle
// connection, and records are then decrypted and encrypted on the
// connection's loop. The handler sees a connection, with its plaintext,
// once its handshake has succeeded. cfg is cloned; it needs a certificate
// (Certificates, GetCertificate or GetConfigForClient), and NextProtos
// names what ALPN may choose (say "http/1.1" for HTTP). See loop/tls.go
// for how a non-blocking tls.Conn is driven, and why it is correct.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) { o.cfg.TLS = cfg })
}

// WithTLSHandshakes bounds the TLS handshakes: each must finish within
// timeout of its accept (default 10s), and at most max run at once
// (default 1024); the others wait, their input bounded, within their
// timeout.
func WithTLSHandshakes(timeout time.Duration, max int) Option {
	return optionFunc(func(o *options) {
		o.cfg.HandshakeTimeout, o.cfg.MaxHandshakes = timeout, max
	})
}
