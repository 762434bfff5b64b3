package http1

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/shoalnet/shoal/loop"
)

// Handler answers requests on the loop. ServeHTTP1 runs on the
// connection's loop goroutine and must not block: a handler that waits
// (on a database, another service) belongs on a worker, as Adapt runs a
// net/http.Handler. The request and the writer are valid only until it
// returns.
type Handler interface {
	ServeHTTP1(w *ResponseWriter, r *Request)
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(w *ResponseWriter, r *Request)

// ServeHTTP1 calls f(w, r).
func (f HandlerFunc) ServeHTTP1(w *ResponseWriter, r *Request) { f(w, r) }

// Config configures a Server. Zero fields take the defaults.
type Config struct {
	Limits Limits
	// HeaderTimeout bounds the time from the first byte of a request head
	// to its end (default 10s); past it the client gets 408 and the
	// connection closes. It is what stops a slowloris client that sends a
	// byte now and then.
	HeaderTimeout time.Duration
	// BodyTimeout bounds the time from the end of the head to the end of
	// the body (default 60s); 408 and a close after it.
	BodyTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request (default 120s; negative: never).
	IdleTimeout time.Duration
	// MaxStreamQueue bounds the bytes a Stream holds that the loop has not
	// taken yet (default 1 MiB): Stream.Write fails past it.
	MaxStreamQueue int
}

// DefaultConfig holds the defaults of a zero Config.
var DefaultConfig = Config{
	Limits:         DefaultLimits,
	HeaderTimeout:  10 * time.Second,
	BodyTimeout:    60 * time.Second,
	IdleTimeout:    120 * time.Second,
	MaxStreamQueue: 1 << 20,
}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	d.Limits = c.Limits.withDefaults()
	if c.HeaderTimeout > 0 {
		d.HeaderTimeout = c.HeaderTimeout
	}
	if c.BodyTimeout > 0 {
		d.BodyTimeout = c.BodyTimeout
	}
	if c.IdleTimeout != 0 {
		d.IdleTimeout = max(c.IdleTimeout, 0)
	}
	if c.MaxStreamQueue > 0 {
		d.MaxStreamQueue = c.MaxStreamQueue
	}
	return d
}

// Server serves HTTP/1.1 on the loop: it is the loop.Handler to give
// server.New. Requests of a connection are answered in order, pipelined
// or not; a request whose answer is made elsewhere (a Stream, the
// net/http adapter) holds back the ones behind it, and reading pauses
// meanwhile.
type Server struct {
	h   Handler
	cfg Config

	mu    sync.Mutex
	loops []*loopState // by loop index; grown in OnOpen
}

// NewServer returns a Server that answers with h.
func NewServer(h Handler, cfg Config) *Server {
	return &Server{h: h, cfg: cfg.withDefaults()}
}

var (
	_ loop.Handler         = (*Server)(nil)
	_ loop.EOFHandler      = (*Server)(nil)
	_ loop.GoodbyeHandler  = (*Server)(nil)
	_ loop.WakeHandler     = (*Server)(nil)
	_ loop.WritableHandler = (*Server)(nil)
)

// loopState is what the connections of one loop share: the request and
// the writer of the request being served, the output being built, the
// Date. Owned by the loop goroutine.
type loopState struct {
	srv   *Server
	req   Request
	w     ResponseWriter
	out   []byte  // responses not yet handed to the connection
	body  []byte  // the decoded chunked body of the request being served
	ch    Chunked // decodes it
	dates dateCache
	clock bool // the Date refresh runs on the loop's wheel
	// free holds the states of connections that were upgraded, for the
	// loop's next connections (at most maxFreeStates): a burst of
	// WebSocket handshakes leaves no garbage behind, and so no heap that
	// the GC lets grow to twice what the upgraded connections hold.
	free []*connState
}

// maxFreeStates bounds a loop's free connection states.
const maxFreeStates = 256

// newState returns a fresh connection state, reused when one is free.
func (ls *loopState) newState(lim Limits) *connState {
	var cs *connState
	if n := len(ls.free); n > 0 {
		cs = ls.free[n-1]
		ls.free[n-1] = nil
		ls.free = ls.free[:n-1]
	} else {
		cs = new(connState)
	}
	*cs = connState{ls: ls, p: Parser{lim: lim, limSet: true}}
	return cs
}

// recycle keeps the state of a connection that another protocol has
// taken over. Nothing refers to it any more: the connection's context is
// the protocol's, and a state with an adapter's context or a stream is
// left to the GC, as something else may still hold it.
func (ls *loopState) recycle(cs *connState) {
	if cs.cancel != nil || cs.st != nil || cs.timer != nil || len(ls.free) >= maxFreeStates {
		return
	}
	*cs = connState{}
	ls.free = append(ls.free, cs)
}

// flushAt is how much output a loop builds before handing it over.
const flushAt = 64 << 10

// flush hands the built output to c's queue.
func (ls *loopState) flush(c loop.Conn) {
	if len(ls.out) > 0 {
		c.Write(ls.out) // a closed connection has no use for it
	}
	ls.out = ls.out[:0]
	if cap(ls.out) > 1<<20 {
		ls.out = nil
	}
}

func (ls *loopState) date() []byte { return ls.dates.buf }

// startClock renders the Date once now and then at every second, from a
// timer on l's wheel.
func (ls *loopState) startClock(l *loop.Loop) {
	if ls.clock {
		return
	}
	ls.clock = true
	var tick func()
	tick = func() {
		now := time.Now()
		ls.dates.get(now)
		l.AfterFunc(time.Second-time.Duration(now.Nanosecond()), tick)
	}
	tick()
}

// The phases of a connection.
const (
	phHead     uint8 = iota // reading a request head
	phBody                  // the head is read; waiting for a Content-Length body
	phChunked               // the head is read; reading a chunked body
	phWait                  // the answer is being made elsewhere (Stream, adapter)
	phUpgraded              // another protocol has the connection (Upgraded)
	phDone                  // closing
)

// connState is a connection's place in its requests. It is small: an idle
// keep-alive connection holds this and nothing else.
type connState struct {
	p       Parser
	ch      Chunked // scans a chunked body as it arrives
	ls      *loopState
	st      *Stream     // phWait: the response being made elsewhere
	timer   *loop.Timer // a head or body timeout
	head    int         // phBody, phChunked: bytes of the head
	need    int64       // phBody: bytes of head and body
	off     int         // phChunked: bytes of head and body scanned
	phase   uint8
	expect  bool // the request waits for 100 Continue
	sent100 bool
	blocked bool // the outbound queue is above the low watermark; OnWritable resumes
	paused  bool // phWait: reading paused, as the requests behind piled up

	// The adapter's, made for its first request: the context of the
	// connection's requests, ended when it closes, and the client's
	// address.
	ctx      context.Context
	cancel   context.CancelFunc
	remote   string
	tls      *tls.ConnectionState // the adapter's Request.TLS (nil: plain)
	eof      bool                 // the peer closed its side
	draining bool                 // the server is shutting down: the next response closes
}

// OnOpen prepares a connection.
func (s *Server) OnOpen(c loop.Conn) {
	ls := s.loopState(c)
	ls.startClock(c.Loop())
	cs := ls.newState(s.cfg.Limits)
	c.SetContext(cs)
	if s.cfg.IdleTimeout > 0 {
		c.SetIdleTimeout(s.cfg.IdleTimeout)
	}
}

func (s *Server) loopState(c loop.Conn) *loopState {
	i := c.LoopIndex()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.loops) <= i {
		s.loops = append(s.loops, nil)
	}
	if s.loops[i] == nil {
		s.loops[i] = &loopState{srv: s}
	}
	return s.loops[i]
}

// state returns the connection's HTTP state, or, once it has been
// upgraded, the protocol that has it (which then replaces the HTTP state
// as the connection's context, so that an upgraded connection keeps
// nothing of HTTP's).
func state(c loop.Conn) (*connState, Upgraded) {
	switch x := c.Context().(type) {
	case *connState:
		return x, nil
	case Upgraded:
		return nil, x
	}
	return nil, nil
}

// OnData answers every whole request that has arrived.
func (s *Server) OnData(c loop.Conn) {
	cs, up := state(c)
	if up != nil {
		up.OnData(c)
		return
	}
	if cs.phase == phWait && !cs.paused && c.Buffered() > maxWaitingInput {
		// Requests pile up behind one answered elsewhere: let TCP hold
		// the rest back. Reading goes on until then, so a client that
		// waits for each answer costs no pause and resume.
		cs.paused = true
		c.PauseRead()
	}
	s.serve(c, cs)
}

// maxWaitingInput is how much input a connection buffers behind a
// request answered elsewhere before reading pauses.
const maxWaitingInput = 64 << 10

// OnClose ends a stream the connection still had.
func (s *Server) OnClose(c loop.Conn, err error) {
	cs, up := state(c)
	if up != nil {
		up.OnClose(c, err)
		return
	}
	if cs == nil {
		return
	}
	cs.phase = phDone
	if cs.st != nil {
		cs.st.connClosed()
		cs.st = nil
	}
	if cs.cancel != nil {
		cs.cancel()
	}
}

// OnEOF: the client closed its side; what it sent before is answered,
// then the connection closes.
func (s *Server) OnEOF(c loop.Conn) {
	cs, up := state(c)
	if up != nil {
		up.OnEOF(c)
		return
	}
	cs.eof = true
	if cs.cancel != nil {
		// As net/http does: the adapter's handlers learn that the client
		// has gone (or half-closed) from their context; what they answer
		// is still sent.
		cs.cancel()
	}
	s.serve(c, cs)
}

// OnGoodbye begins the drain: an idle connection closes at once; one in
// the middle of a request closes after its response, which says
// "Connection: close"; a stream is ended.
func (s *Server) OnGoodbye(c loop.Conn) {
	cs, up := state(c)
	if up != nil {
		up.OnGoodbye(c)
		return
	}
	cs.draining = true
	switch {
	case cs.phase == phWait:
		cs.st.goodbye(c, cs)
	case cs.phase == phHead && c.Buffered() == 0 && !cs.blocked:
		cs.phase = phDone
		c.Close()
	}
}

// OnWake takes what a Stream has queued.
func (s *Server) OnWake(c loop.Conn) {
	cs, up := state(c)
	switch {
	case up != nil:
		up.OnWake(c)
	case cs.st != nil:
		cs.st.pump(c, cs)
	}
}

// OnWritable resumes a connection that stopped for its output to drain.
func (s *Server) OnWritable(c loop.Conn) {
	cs, up := state(c)
	switch {
	case up != nil:
		up.OnWritable(c)
	case cs.st != nil:
		cs.st.pump(c, cs)
	case cs.blocked:
		cs.blocked = false
		c.ResumeRead()
		s.serve(c, cs)
	}
}

// serve answers the whole requests buffered on c, in order, until one is
// incomplete, one is answered elsewhere, or the output must drain first.
func (s *Server) serve(c loop.Conn, cs *connState) {
	ls := cs.ls
	ls.out = ls.out[:0] // what a panicking handler left
	for cs.phase < phWait && c.Buffered() > 0 {
		if len(ls.out) >= flushAt {
			ls.flush(c)
		}
		if c.OutboundBuffered() > 0 && !c.Writable() {
			cs.blocked = true
			c.PauseRead()
			break
		}
		in, _ := c.Peek(0)
		n, err := s.next(c, cs, in)
		if err != nil {
			s.reject(c, cs, err)
			return
		}
		if n == 0 {
			s.waitMore(c, cs)
			break
		}
		s.stopTimer(cs)
		s.handle(c, cs, n)
	}
	ls.flush(c)
	if cs.eof && cs.phase <= phChunked && !cs.blocked {
		// Nothing more will come: an incomplete request is dropped, as
		// the client that closed knows.
		cs.phase = phDone
		c.Close()
	}
	if cs.phase == phUpgraded {
		ls.recycle(cs) // serve's callers return at once
	}
}

// next returns the length of the request at the start of in once it is
// whole (0: more input is needed), with ls.req filled.
func (s *Server) next(c loop.Conn, cs *connState, in []byte) (int, error) {
	req := &cs.ls.req
	fresh := false // req was parsed from in
	if cs.phase == phHead {
		n, err := cs.p.Head(in, req)
		if n == 0 || err != nil {
			return 0, err
		}
		fresh = true
		cs.head, cs.expect, cs.sent100 = n, req.Expect100, false
		switch {
		case req.Chunked:
			cs.phase, cs.off = phChunked, n
			cs.ch.Reset(s.cfg.Limits.MaxBody)
		case req.ContentLength > 0:
			cs.phase, cs.need = phBody, int64(n)+req.ContentLength
		default:
			req.Body = nil
			return n, nil
		}
		s.stopTimer(cs) // the head timeout; the body has one of its own
	}
	switch cs.phase {
	case phBody:
		if int64(len(in)) < cs.need {
			s.continue100(c, cs, len(in))
			return 0, nil
		}
	case phChunked:
		for !cs.ch.Done() {
			_, k, err := cs.ch.Next(in[cs.off:])
			if err != nil {
				return 0, err
			}
			if k == 0 {
				break
			}
			cs.off += k
		}
		if !cs.ch.Done() {
			if int64(cs.off-cs.head) > maxChunkedFraming(s.cfg.Limits.MaxBody) {
				return 0, ErrBodyTooLarge.with("chunk framing")
			}
			s.continue100(c, cs, len(in))
			return 0, nil
		}
	}
	if !fresh { // the head was parsed in an earlier callback, from input since moved
		if n, err := cs.p.Head(in, req); n != cs.head || err != nil {
			return 0, errors.New("http1: request head changed while its body arrived")
		}
	}
	n := 0
	if cs.phase == phBody {
		n = int(cs.need)
		req.Body = in[cs.head:n]
	} else {
		n = cs.off
		req.Body = cs.ls.decodeChunked(in[cs.head:n], s.cfg.Limits.MaxBody)
	}
	cs.phase = phHead
	return n, nil
}

// maxChunkedFraming bounds the bytes of a chunked body on the wire, data
// and framing, that may be buffered while it arrives: chunks of a few
// bytes each take more than twice their data.
func maxChunkedFraming(maxBody int64) int64 { return 2*maxBody + 64<<10 }

// decodeChunked returns the data of the whole chunked body b, copied to
// the loop's body buffer.
func (ls *loopState) decodeChunked(b []byte, max int64) []byte {
	ls.ch.Reset(max)
	body := ls.body[:0]
	for len(b) > 0 && !ls.ch.Done() {
		data, k, _ := ls.ch.Next(b) // scanned once already without error
		body = append(body, data...)
		b = b[k:]
	}
	if cap(body) > 1<<20 {
		ls.body = nil // do not keep a large body's buffer
	} else {
		ls.body = body
	}
	return body
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// continue100 tells a client that waits before sending its body to send
// it, once per request, if none of it has come yet.
func (s *Server) continue100(c loop.Conn, cs *connState, buffered int) {
	if cs.expect && !cs.sent100 && buffered == cs.head {
		cs.sent100 = true
		ls := cs.ls
		ls.out = append(ls.out, continue100...)
		ls.flush(c)
	}
}

// handle runs the handler on the whole request that is the first n bytes
// of input.
func (s *Server) handle(c loop.Conn, cs *connState, n int) {
	ls := cs.ls
	req := &ls.req
	w := &ls.w
	*w = ResponseWriter{
		resp: resp{
			status: 200,
			hdr:    w.hdr[:0],
			minor:  req.Minor,
			isHead: string(req.Method) == "HEAD",
			keep:   req.KeepAlive && !cs.draining && !cs.eof,
		},
		body: w.body[:0],
		c:    c, cs: cs, ls: ls, req: req,
	}
	s.h.ServeHTTP1(w, req)
	c.Discard(n)
	if w.up != nil {
		s.upgrade(c, cs, w)
		return
	}
	if w.st != nil {
		w.st.begin(c, cs, w)
		return
	}
	w.finish()
	if cap(w.body) > 1<<20 {
		w.body = nil
	}
	if !w.keep {
		cs.phase = phDone
		ls.flush(c)
		c.Close()
	}
}

// waitMore arms the head or body timeout of a request that has begun.
func (s *Server) waitMore(c loop.Conn, cs *connState) {
	if cs.timer != nil {
		return
	}
	d := s.cfg.HeaderTimeout
	if cs.phase != phHead {
		d = s.cfg.BodyTimeout
	}
	cs.timer = c.AfterFunc(d, s.timeout)
}

func (s *Server) stopTimer(cs *connState) {
	if cs.timer != nil {
		cs.timer.Stop()
		cs.timer = nil
	}
}

// timeout answers 408 to a request that did not arrive in time.
func (s *Server) timeout(c loop.Conn) {
	cs := c.Context().(*connState)
	cs.timer = nil
	if cs.phase <= phChunked {
		s.reject(c, cs, ErrTimeout)
	}
}

var plainText = []byte("Content-Type: text/plain; charset=utf-8\r\n")

// reject answers a request that cannot be served with its error's status
// and closes the connection: its framing is lost.
func (s *Server) reject(c loop.Conn, cs *connState, err error) {
	ls := cs.ls
	status := 400
	var he *Error
	if errors.As(err, &he) {
		status = he.Status
	}
	text := strconv.Itoa(status) + " " + StatusText(status)
	r := resp{status: status, hdr: plainText, minor: 1}
	ls.out = r.appendHead(ls.out, ls.date(), len(text))
	ls.out = append(ls.out, text...)
	ls.flush(c)
	cs.phase = phDone
	s.stopTimer(cs)
	c.CloseWithError(err)
}
