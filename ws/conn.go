package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/internal/bufpool"
	"github.com/shoalnet/shoal/loop"
)

// Handler receives the events of upgraded connections, on each
// connection's loop: it must not block (hand slow work to a goroutine).
type Handler interface {
	// OnOpen: the 101 has been queued; the connection is WebSocket.
	OnOpen(c *Conn)
	// OnMessage: a whole message (text is valid UTF-8). msg is valid
	// until OnMessage returns.
	OnMessage(c *Conn, op Opcode, msg []byte)
	// OnClose: the connection has closed. code is the close code the peer
	// sent (CloseNoStatus if its frame had none), or the one the server
	// failed the connection with; CloseAbnormal if TCP dropped without a
	// close frame. err says why it ended.
	OnClose(c *Conn, code int, err error)
}

// GoodbyeHandler is a Handler with something to do on a connection when
// the server drains, before the goodbye (Config.Goodbye) is written: such
// as delivering what is queued for it (pubsub.Node.Goodbye), so that it
// reaches the peer ahead of the close frame. On c's loop; the goodbye is
// not sent if OnGoodbye closed c itself.
type GoodbyeHandler interface {
	Handler
	OnGoodbye(c *Conn)
}

// Config configures an Upgrader. Zero fields take the defaults.
type Config struct {
	// MaxFrame and MaxMessage bound a frame's payload and a message's
	// (default 16 MiB each); past them the connection is closed with 1009.
	MaxFrame, MaxMessage int64
	// PingInterval is how often the server pings (default 30s; negative:
	// never). A connection from which nothing has arrived for a whole
	// interval after a ping is closed ("pong timeout").
	PingInterval time.Duration
	// IdleTimeout closes a connection with 1001 ("idle timeout") when no
	// message has arrived from the peer for this long (0: never); pings
	// and pongs do not count. It is checked at every ping (every
	// IdleTimeout when the server does not ping), so it is rounded up to
	// a multiple of PingInterval.
	IdleTimeout time.Duration
	// CloseTimeout bounds the wait for the peer's close frame after the
	// server sent its own (default 5s), then TCP is dropped.
	CloseTimeout time.Duration
	// Subprotocols the server speaks, in its order of preference; the
	// first the client also offers is chosen.
	Subprotocols []string
	// CheckOrigin decides whether a browser's Origin may connect. nil
	// accepts a request without Origin, or whose Origin's host is the
	// request's Host (as gorilla/websocket does).
	CheckOrigin func(r *http1.Request) bool
	// OnUpgrade, if set, runs before the 101 is sent, on the loop: it may
	// authenticate the request and return state to attach to the
	// connection (Conn.State), or an error, answered 403.
	OnUpgrade func(r *http1.Request) (state any, err error)
	// Compression negotiates permessage-deflate (RFC 7692) with clients
	// that offer it, always without context takeover: each message is
	// compressed on its own, so an idle connection holds no window, and
	// compressors are pooled across connections. A compressed message is
	// decompressed up to MaxMessage and no further (1009).
	Compression bool
	// CompressionLevel is compress/flate's level for what the server
	// sends (0 or out of range: flate.BestSpeed).
	CompressionLevel int
	// Goodbye is the close frame a draining server sends (default 1001,
	// "server shutting down"). A code of the private range (4000-4999,
	// or an application's 3000-3999) tells clients of the application
	// to reconnect at once, elsewhere.
	Goodbye CloseError
	// CompressionMin is the shortest message the server compresses
	// (default 128 bytes); shorter ones go uncompressed, as RFC 7692
	// allows.
	CompressionMin int
}

// ErrPongTimeout is why a connection that stopped answering pings
// closed; its close frame says 1001 (going away).
var ErrPongTimeout error = &CloseError{Code: CloseGoingAway, Reason: "pong timeout"}

// ErrIdleTimeout is why a connection closed after Config.IdleTimeout
// without a message; its close frame says 1001 (going away).
var ErrIdleTimeout error = &CloseError{Code: CloseGoingAway, Reason: "idle timeout"}

// Upgrader upgrades HTTP/1.1 requests (from an http1.Server's native
// handler) to WebSocket connections served by its Handler.
type Upgrader struct {
	h    Handler
	cfg  Config
	tick time.Duration // a connection's heartbeat interval (0: none)
	// scratches holds each loop's scratch (*loop.Loop → *scratch).
	scratches sync.Map
}

// NewUpgrader returns an Upgrader for h.
func NewUpgrader(h Handler, cfg Config) *Upgrader {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.CompressionLevel == 0 || cfg.CompressionLevel < flate.HuffmanOnly || cfg.CompressionLevel > flate.BestCompression {
		cfg.CompressionLevel = flate.BestSpeed
	}
	if cfg.CompressionMin <= 0 {
		cfg.CompressionMin = 128
	}
	if cfg.Goodbye.Code == 0 {
		cfg.Goodbye = CloseError{Code: CloseGoingAway, Reason: "server shutting down"}
	}
	u := &Upgrader{h: h, cfg: cfg}
	switch {
	case cfg.PingInterval > 0:
		u.tick = cfg.PingInterval
	case cfg.IdleTimeout > 0:
		u.tick = cfg.IdleTimeout
	}
	return u
}

// ServeHTTP1 upgrades every request: an http1.Handler for a server that
// speaks only WebSocket.
func (u *Upgrader) ServeHTTP1(w *http1.ResponseWriter, r *http1.Request) { u.Upgrade(w, r) }

// Upgrade answers r with 101 and makes the connection WebSocket, or
// answers an HTTP error (400, 403, 405, 426) and reports false.
func (u *Upgrader) Upgrade(w *http1.ResponseWriter, r *http1.Request) bool {
	key, err := CheckUpgrade(r)
	if err != nil {
		var he *HandshakeError
		errors.As(err, &he)
		w.WriteHeader(he.Status)
		if he.Status == 426 {
			w.Header("Sec-WebSocket-Version", "13")
		}
		w.Header("Content-Type", "text/plain; charset=utf-8")
		w.WriteString(he.Reason)
		return false
	}
	if !u.originOK(r) {
		w.WriteHeader(403)
		w.WriteString("origin not allowed")
		return false
	}
	c := &Conn{lc: w.Conn(), scr: u.scratchOf(w.Conn().Loop()), hb: -1}
	if u.cfg.OnUpgrade != nil {
		if c.state, err = u.cfg.OnUpgrade(r); err != nil {
			w.WriteHeader(403)
			w.WriteString(err.Error())
			return false
		}
	}
	var accept [acceptKeyLen]byte // the header copies it: no garbage per handshake
	w.Header("Sec-WebSocket-Accept", string(appendAcceptKey(accept[:0], key)))
	if i := u.choose(r); i >= 0 {
		c.sub = uint8(i + 1)
		w.Header("Sec-WebSocket-Protocol", u.cfg.Subprotocols[i])
	}
	if u.cfg.Compression && acceptsDeflate(r) {
		c.deflate = true
		w.Header("Sec-WebSocket-Extensions", deflateResponse)
	}
	c.rd = FrameReader{MaxFrame: u.cfg.MaxFrame, MaxMessage: u.cfg.MaxMessage, Compressed: c.deflate}
	w.Upgrade("websocket", (*upgraded)(c))
	return true
}

func (u *Upgrader) originOK(r *http1.Request) bool {
	if u.cfg.CheckOrigin != nil {
		return u.cfg.CheckOrigin(r)
	}
	origin := r.Header("Origin")
	if origin == nil {
		return true
	}
	o, err := url.Parse(string(origin))
	return err == nil && bytes.EqualFold([]byte(o.Host), r.Host)
}

// choose returns the index in Config.Subprotocols of the first the
// client offers (at most 255 are considered), or -1.
func (u *Upgrader) choose(r *http1.Request) int {
	offered := Subprotocols(r)
	for i, p := range u.cfg.Subprotocols[:min(len(u.cfg.Subprotocols), 255)] {
		for _, o := range offered {
			if string(o) == p {
				return i
			}
		}
	}
	return -1
}

// Conn is one WebSocket connection. Its methods are for its loop: the
// Handler's callbacks, or a function run there with Loop().Execute.
type Conn struct {
	lc         loop.Conn
	rd         FrameReader
	frag       *[]byte // the fragments of the open message; nil until a message is fragmented
	state      any
	timer      *loop.Timer // the wait for the peer's close, once the server sent its own
	scr        *scratch    // its loop's
	quiet      uint32      // heartbeats in a row without a message (IdleTimeout)
	hb         int32       // index in scr.beats; -1 when not in it
	due        uint32      // the loop's beat at which the next heartbeat is due
	code       int32       // the close code for OnClose
	msgOp      Opcode
	sub        uint8 // 1 + the index of the chosen subprotocol in Config.Subprotocols; 0: none
	heard      bool  // something arrived since the last ping
	gotMessage bool  // a message arrived since the last heartbeat
	paused     bool  // reading stopped until the outbound queue drains
	deflate    bool  // permessage-deflate was negotiated
	sentClose  bool
	closed     bool
}

// State returns what Config.OnUpgrade returned for this connection, or
// what SetState set.
func (c *Conn) State() any { return c.state }

// SetState attaches v to the connection (State returns it). The loop's
// connection's own context (NetConn().Context) belongs to the Conn.
func (c *Conn) SetState(v any) { c.state = v }

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string {
	if c.sub == 0 {
		return ""
	}
	return c.scr.u.cfg.Subprotocols[c.sub-1]
}

// NetConn returns the loop's connection under c. Its context
// (SetContext) is the server's: do not set it.
func (c *Conn) NetConn() loop.Conn { return c.lc }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.deflate }

// WriteMessage queues a message of one frame, compressed when
// permessage-deflate was negotiated, the message is at least
// Config.CompressionMin long and compression makes it shorter. p is
// copied. After the close frame has been sent it does nothing and
// reports false.
func (c *Conn) WriteMessage(op Opcode, p []byte) bool {
	if c.sentClose || c.closed {
		return false
	}
	if c.deflate && len(p) >= c.scr.u.cfg.CompressionMin {
		z := deflate(bufpool.Get(len(p)+64), p, c.scr.u.cfg.CompressionLevel)
		if len(z) < len(p) {
			c.writeFrame(op, rsvDeflate, z)
			bufpool.Put(z)
			return true
		}
		bufpool.Put(z)
	}
	c.writeFrame(op, 0, p)
	return true
}

// rsvDeflate is RSV1, which marks a compressed message (RFC 7692 6).
const rsvDeflate = 4

// writeFrame queues one unmasked frame, header and payload in one write
// (the loop copies them; an empty queue takes a write of any size).
func (c *Conn) writeFrame(op Opcode, rsv byte, p []byte) {
	x := c.scr
	h := AppendHeader(x.hdr[:0], Header{Fin: true, RSV: rsv, Op: op, Length: uint64(len(p))})
	x.iov = [2][]byte{h, p}
	c.lc.Writev(x.iov[:])
	x.iov = [2][]byte{}
}

// Execute runs f on c's loop, where c's methods may be called, unless c
// has closed by then. Safe for concurrent use; it fails only when the
// loop's task queue is full (loop.ErrQueueFull) or the loop has stopped.
func (c *Conn) Execute(f func(c *Conn)) error {
	return c.lc.Loop().Execute(func() {
		if !c.closed {
			f(c)
		}
	})
}

// Send queues a copy of p as a message, from any goroutine, through
// Execute; it is dropped if c closes first. Safe for concurrent use.
// Messages sent from one goroutine keep their order.
func (c *Conn) Send(op Opcode, p []byte) error {
	p = bytes.Clone(p)
	return c.Execute(func(c *Conn) { c.WriteMessage(op, p) })
}

// scratch is what the connections of one loop and Upgrader share, so
// that an idle connection does not carry it: their Upgrader, their
// heartbeats, and what writeFrame needs that a local variable would make
// an allocation of (Writev's arguments escape).
type scratch struct {
	u   *Upgrader
	iov [2][]byte
	hdr [MaxHeaderLen]byte
	heartbeats
}

// scratchOf returns l's scratch, made at its first connection.
func (u *Upgrader) scratchOf(l *loop.Loop) *scratch {
	if x, ok := u.scratches.Load(l); ok {
		return x.(*scratch)
	}
	x, _ := u.scratches.LoadOrStore(l, &scratch{u: u})
	return x.(*scratch)
}

// Close starts the closing handshake with code and reason: the close
// frame goes out, and the connection closes when the peer's close comes
// back, or after Config.CloseTimeout.
func (c *Conn) Close(code int, reason string) {
	if c.sentClose || c.closed {
		return
	}
	c.sendClose(code, reason)
	c.lc.SetBusy(true) // the loop's drain waits for the peer's close
	c.timer = c.lc.AfterFunc(c.scr.u.cfg.CloseTimeout, closeTimeout)
}

func (c *Conn) sendClose(code int, reason string) {
	c.sentClose = true
	c.scr.leave(c) // no more heartbeats
	c.code = int32(code)
	var b [2 + 125]byte
	c.lc.Write(AppendClose(b[:0], code, reason))
}

// fail closes the connection after a violation: the close frame with its
// code, then TCP, without waiting for the peer's answer.
func (c *Conn) fail(err error) {
	if !c.sentClose {
		c.sendClose(CloseCode(err), errReason(err))
	}
	c.lc.CloseWithError(err)
}

func errReason(err error) string {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

func (c *Conn) open() {
	c.code = CloseAbnormal
	c.scr.u.h.OnOpen(c)
	if c.scr.u.tick > 0 && !c.sentClose && !c.closed {
		c.heard = true
		c.scr.join(c, c.lc.Loop(), c.scr.u.tick)
	}
}

// closeTimeout: the peer did not answer the server's close in time. A
// function, not a method value (which would be an allocation): the
// connection's context is its upgraded.
func closeTimeout(lc loop.Conn) {
	if u, ok := lc.Context().(*upgraded); ok && !u.closed {
		lc.Close()
	}
}

// heartbeat is due: the idle timeout is checked and a ping sent (the
// connection fails if the last one got no answer).
func (c *Conn) heartbeat() {
	cfg := &c.scr.u.cfg
	if cfg.IdleTimeout > 0 {
		if c.gotMessage {
			c.quiet = 0
		} else if c.quiet++; time.Duration(c.quiet)*c.scr.u.tick >= cfg.IdleTimeout {
			c.fail(ErrIdleTimeout)
			return
		}
		c.gotMessage = false
	}
	if cfg.PingInterval > 0 {
		if !c.heard {
			c.fail(ErrPongTimeout)
			return
		}
		c.heard = false
		c.writeFrame(OpPing, 0, nil)
	}
}

// read takes the whole frames buffered on the connection.
func (c *Conn) read() {
	c.heard = true
	for !c.closed {
		in, _ := c.lc.Peek(0)
		if len(in) == 0 {
			return
		}
		if !c.lc.Writable() {
			// The peer does not read what it is answered (pongs, echoes):
			// take nothing more until the queue drains, and let TCP hold
			// the peer back, so that a flood of pings costs no memory.
			c.paused = true
			c.lc.PauseRead()
			return
		}
		f, n, err := c.rd.Next(in)
		if err != nil {
			c.fail(err)
			return
		}
		if n == 0 {
			return
		}
		done := c.frame(&f)
		c.lc.Discard(n)
		if done {
			return
		}
	}
}

// frame handles one frame; it reports true when the connection is
// closing and reads no more.
func (c *Conn) frame(f *Frame) bool {
	switch f.Op {
	case OpPing:
		if !c.sentClose {
			c.writeFrame(OpPong, 0, f.Payload)
		}
	case OpPong:
	case OpClose:
		code, _ := f.CloseCode()
		if !c.sentClose {
			// Echo the peer's code (RFC 6455 5.5.1), then TCP closes.
			if code == CloseNoStatus {
				c.sentClose = true
				c.scr.leave(c)
				c.lc.Write(AppendClose(nil, CloseNoStatus, ""))
			} else {
				c.sendClose(code, "")
			}
		}
		c.code = int32(code)
		c.lc.SetBusy(false)
		c.lc.Close()
		return true
	default:
		if c.sentClose { // the peer's data after our close is dropped
			return false
		}
		if f.Op != OpContinuation {
			c.msgOp = f.Op
			if f.Fin { // a message of one frame: no copy
				return c.message(f.Payload)
			}
		}
		if c.frag == nil {
			c.frag = new([]byte)
		}
		*c.frag = append(*c.frag, f.Payload...)
		if f.Fin {
			done := c.message(*c.frag)
			*c.frag = (*c.frag)[:0]
			if cap(*c.frag) > 4<<10 { // an idle connection keeps no big buffer
				c.frag = nil
			}
			return done
		}
	}
	return c.closed
}

// message delivers a whole message, decompressed first if it is; it
// reports true when the connection is closing.
func (c *Conn) message(p []byte) bool {
	c.gotMessage = true
	if !c.rd.Deflated() {
		c.scr.u.h.OnMessage(c, c.msgOp, p)
		return c.closed
	}
	out, err := inflate(p, c.scr.u.cfg.MaxMessage)
	if err == nil && c.msgOp == OpText && !utf8.Valid(out) {
		err = &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in a text message"}
	}
	if err != nil {
		bufpool.Put(out)
		c.fail(err)
		return true
	}
	c.scr.u.h.OnMessage(c, c.msgOp, out)
	bufpool.Put(out)
	return c.closed
}

// upgraded is the http1.Upgraded side of a Conn, kept off its API.
type upgraded Conn

func (u *upgraded) OnOpen(loop.Conn) { (*Conn)(u).open() }
func (u *upgraded) OnData(loop.Conn) { (*Conn)(u).read() }
func (u *upgraded) OnWritable(lc loop.Conn) {
	if c := (*Conn)(u); c.paused {
		c.paused = false
		lc.ResumeRead()
		c.read()
	}
}
func (u *upgraded) OnWake(loop.Conn) {}

// OnEOF: the peer closed TCP without a close handshake (or after ours).
func (u *upgraded) OnEOF(lc loop.Conn) { lc.Close() }

// OnGoodbye: the server drains: the handler's OnGoodbye, if it has one,
// then close with Config.Goodbye (1001, going away, by default), and wait
// for the peer's close.
func (u *upgraded) OnGoodbye(loop.Conn) {
	c := (*Conn)(u)
	if g, ok := c.scr.u.h.(GoodbyeHandler); ok {
		g.OnGoodbye(c)
	}
	c.Close(c.scr.u.cfg.Goodbye.Code, c.scr.u.cfg.Goodbye.Reason)
}

func (u *upgraded) OnClose(_ loop.Conn, err error) {
	c := (*Conn)(u)
	c.closed = true
	c.scr.leave(c)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.scr.u.h.OnClose(c, int(c.code), err)
}
