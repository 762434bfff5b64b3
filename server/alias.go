package server

import "github.com/shoalnet/shoal/loop"

// The connection, handler and statistics types are the loop package's;
// the server names them too, so that a program written against the server
// needs no other import.
type (
	Handler            = loop.Handler
	NopHandler         = loop.NopHandler
	WakeHandler        = loop.WakeHandler
	WritableHandler    = loop.WritableHandler
	EOFHandler         = loop.EOFHandler
	GoodbyeHandler     = loop.GoodbyeHandler
	FrameHandler       = loop.FrameHandler
	FrameErrorHandler  = loop.FrameErrorHandler
	Conn               = loop.Conn
	Timer              = loop.Timer
	Stats              = loop.Stats
	LoopStats          = loop.LoopStats
	Histogram          = loop.Histogram
	PanicError         = loop.PanicError
	CloseReason        = loop.CloseReason
	Balance            = loop.Balance
	Engine             = loop.Engine
	SlowConsumerPolicy = loop.SlowConsumerPolicy
)

// Engines, balances and slow-consumer policies; see package loop.
const (
	EngineAuto     = loop.EngineAuto
	EngineLoops    = loop.EngineLoops
	EnginePortable = loop.EnginePortable

	RoundRobin       = loop.RoundRobin
	LeastConnections = loop.LeastConnections

	SlowConsumerClose         = loop.SlowConsumerClose
	SlowConsumerDrop          = loop.SlowConsumerDrop
	SlowConsumerPauseProducer = loop.SlowConsumerPauseProducer
)

// Close reasons; see loop.CloseReason.
const (
	ReasonLocal         = loop.ReasonLocal
	ReasonEOF           = loop.ReasonEOF
	ReasonReset         = loop.ReasonReset
	ReasonTimeout       = loop.ReasonTimeout
	ReasonSlowConsumer  = loop.ReasonSlowConsumer
	ReasonProtocolError = loop.ReasonProtocolError
	ReasonPanic         = loop.ReasonPanic
	ReasonShutdown      = loop.ReasonShutdown
	ReasonLimit         = loop.ReasonLimit
	ReasonError         = loop.ReasonError
	NumCloseReasons     = loop.NumCloseReasons
)

// ReasonOf classifies the error OnClose receives.
func ReasonOf(err error) CloseReason { return loop.ReasonOf(err) }

// Errors; see package loop. ErrServerClosed is what Serve returns after
// Close or Shutdown and what OnClose receives for the connections they
// closed.
var (
	ErrServerClosed        = loop.ErrStopped
	ErrClosed              = loop.ErrClosed
	ErrQueueFull           = loop.ErrQueueFull
	ErrInputTooLarge       = loop.ErrInputTooLarge
	ErrNegativeCount       = loop.ErrNegativeCount
	ErrShortBuffer         = loop.ErrShortBuffer
	ErrUnsupportedListener = loop.ErrUnsupportedListener
	ErrSlowConsumer        = loop.ErrSlowConsumer
	ErrDropped             = loop.ErrDropped
	ErrWouldBlock          = loop.ErrWouldBlock
	ErrIdleTimeout         = loop.ErrIdleTimeout
	ErrReadTimeout         = loop.ErrReadTimeout
	ErrWriteTimeout        = loop.ErrWriteTimeout
	ErrCloseTimeout        = loop.ErrCloseTimeout
)

// Shared is a message queued by reference on many connections; see
// loop.Shared.
type Shared = loop.Shared

// NewShared returns a Shared holding b, held once by the caller; free,
// if not nil, runs with b after the last Release.
func NewShared(b []byte, free func([]byte)) *Shared { return loop.NewShared(b, free) }
