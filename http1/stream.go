package http1

import (
	"errors"
	"sync"

	"github.com/shoalnet/shoal/loop"
)

// Errors of Stream.Write.
var (
	// ErrStreamFull: the stream holds MaxStreamQueue bytes the loop has not
	// taken yet, because the client reads slower than the stream is
	// written. Nothing was queued; write again after a while, or drop.
	ErrStreamFull = errors.New("http1: stream queue full")
	// ErrStreamClosed: the stream has ended or its connection has closed.
	ErrStreamClosed = errors.New("http1: stream closed")
)

// Stream is a response that goes on after its handler has returned,
// written from any goroutine: each Write goes out as one chunk (HTTP/1.0:
// as it is, and the connection closes at the end), in the order of the
// writes, through the connection's loop. Close ends the response; the
// connection then serves its next request. Done tells the writer when to
// stop: the client went away or the server is shutting down.
//
// For Server-Sent Events set "Content-Type: text/event-stream" before
// calling ResponseWriter.Stream, and write each event ("data: ...\n\n")
// with one Write.
type Stream struct {
	c       loop.Conn
	max     int
	adapter bool // the head comes from the first op (Adapt); the handler runs on a worker

	mu     sync.Mutex
	space  sync.Cond // signalled when the loop takes ops
	ops    []streamOp
	spare  []streamOp
	queued int  // bytes of data in ops
	ended  bool // the last op is queued
	closed bool // the connection has closed
	done   chan struct{}
	bye    func() // OnGoodbye's
	onEnd  func() // OnEnd's
	over   bool   // OnEnd's moment has come: f runs at once

	// Owned by the loop.
	resp      resp
	committed bool // the head has been written
}

// streamOp is one step of a stream: data to send, optionally the head
// before it (the adapter), optionally the end after it.
type streamOp struct {
	head   bool
	status int
	hdr    []byte
	data   []byte
	end    bool
	close  bool // with head: the handler asked for "Connection: close"
}

func newStream(c loop.Conn, max int) *Stream {
	st := &Stream{}
	st.init(c, max)
	return st
}

func (st *Stream) init(c loop.Conn, max int) {
	st.c, st.max = c, max
	st.space.L = &st.mu
}

// Write sends p as the next piece of the body; p is copied. It returns
// ErrStreamFull instead of queueing past the stream's bound, and
// ErrStreamClosed once the stream has ended. Safe for concurrent use.
func (st *Stream) Write(p []byte) (int, error) {
	if err := st.put(streamOp{data: append([]byte(nil), p...)}, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (st *Stream) WriteString(s string) (int, error) {
	if err := st.put(streamOp{data: []byte(s)}, false); err != nil {
		return 0, err
	}
	return len(s), nil
}

// Close ends the response. Safe for concurrent use; calls after the first
// return ErrStreamClosed.
func (st *Stream) Close() error { return st.put(streamOp{end: true}, false) }

// Done returns a channel that is closed when the stream has ended: after
// Close, when the connection has closed, or when the server, shutting
// down, has ended it.
func (st *Stream) Done() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == nil {
		st.done = make(chan struct{})
		if st.ended || st.closed {
			close(st.done)
		}
	}
	return st.done
}

// OnGoodbye sets f to run on the connection's loop when the server
// begins to drain, just before it ends the stream: what f writes goes out
// ahead of the end (last events, a "reconnect" event). A stream of the
// net/http adapter is not ended by the drain (its handler is waited for):
// f does not run there.
func (st *Stream) OnGoodbye(f func()) {
	st.mu.Lock()
	st.bye = f
	st.mu.Unlock()
}

// OnEnd sets f to run on the connection's loop once the stream is over:
// its end has been handed to the connection (after Close, or the drain's
// goodbye), or the connection has closed. It runs once. A writer that
// keeps per-stream state on the loop (a subscriber to remove, a timer to
// stop) needs no goroutine waiting on Done for it. Set after the stream
// is over, f is queued to run on the loop (Loop.Execute), unless the
// server has stopped.
func (st *Stream) OnEnd(f func()) {
	st.mu.Lock()
	over := st.over
	if !over {
		st.onEnd = f
	}
	st.mu.Unlock()
	if over {
		st.c.Loop().Execute(f)
	}
}

// runEnd runs OnEnd's f, on the loop, the first time the stream is over.
func (st *Stream) runEnd() {
	st.mu.Lock()
	f := st.onEnd
	st.onEnd, st.over = nil, true
	st.mu.Unlock()
	if f != nil {
		f()
	}
}

// put queues op and wakes the loop. With block, it waits while the queue
// is full (the adapter's workers); without, a full queue is ErrStreamFull.
func (st *Stream) put(op streamOp, block bool) error {
	st.mu.Lock()
	for !st.ended && !st.closed && st.queued > 0 && st.queued+len(op.data) > st.max {
		if !block {
			st.mu.Unlock()
			return ErrStreamFull
		}
		st.space.Wait()
	}
	if st.ended || st.closed {
		st.mu.Unlock()
		return ErrStreamClosed
	}
	st.ops = append(st.ops, op)
	st.queued += len(op.data)
	if op.end {
		st.ended = true
		st.closeDone()
	}
	st.mu.Unlock()
	st.c.Wake()
	return nil
}

// closeDone closes the done channel, if made. Called with mu held.
func (st *Stream) closeDone() {
	if st.done != nil {
		select {
		case <-st.done:
		default:
			close(st.done)
		}
	}
}

// begin runs on the loop when the handler that made the stream has
// returned: the connection waits for the stream, reading paused, and a
// native stream's head and first bytes go out.
func (st *Stream) begin(c loop.Conn, cs *connState, w *ResponseWriter) {
	ls := cs.ls
	st.resp = w.resp
	st.resp.hdr = nil
	if !st.adapter {
		if !w.flushed {
			ls.out = w.resp.appendHead(ls.out, ls.date(), -1)
		}
		ls.out = w.resp.appendChunk(ls.out, w.body)
		st.resp.keep = w.resp.keep // appendHead clears it for a close-delimited body
		st.committed = true
	}
	cs.phase, cs.st = phWait, st
	c.SetBusy(true)
	if !st.adapter {
		c.SetIdleTimeout(0) // a stream may be quiet for long; its writer decides
	}
	st.pump(c, cs)
}

// pump writes what the stream's writers have queued, on the loop, while
// the connection's output has room; OnWritable calls it again when not.
func (st *Stream) pump(c loop.Conn, cs *connState) {
	ls := cs.ls
	if c.OutboundBuffered() > 0 && !c.Writable() {
		return
	}
	st.mu.Lock()
	ops := st.ops
	if len(ops) == 0 { // nothing queued: the writers keep their array
		st.mu.Unlock()
		ls.flush(c) // what begin wrote
		return
	}
	st.ops, st.spare = st.spare[:0], nil
	st.queued = 0
	st.space.Broadcast()
	st.mu.Unlock()

	ended := false
	for i := range ops {
		op := &ops[i]
		switch {
		case op.head && !st.committed:
			st.resp.status, st.resp.hdr = op.status, op.hdr
			if op.close {
				st.resp.keep = false
			}
			length := -1
			if op.end {
				length = len(op.data) // the whole response at once
			}
			ls.out = st.resp.appendHead(ls.out, ls.date(), length)
			st.committed = true
			if length >= 0 {
				if st.resp.hasBody() {
					ls.out = append(ls.out, op.data...)
				}
				ended = true
				break
			}
			ls.out = st.resp.appendChunk(ls.out, op.data)
		default:
			ls.out = st.resp.appendChunk(ls.out, op.data)
		}
		if op.end && !ended {
			ls.out = st.resp.appendEnd(ls.out)
			ended = true
		}
		if len(ls.out) >= flushAt {
			ls.flush(c)
		}
	}
	clear(ops)
	st.mu.Lock()
	if st.spare == nil && cap(ops) <= 64 {
		st.spare = ops[:0]
	}
	st.mu.Unlock()
	ls.flush(c)
	if ended {
		st.finish(c, cs)
	}
}

// finish ends the wait for the stream: the connection closes if the
// response said so, or goes on with the requests behind it.
func (st *Stream) finish(c loop.Conn, cs *connState) {
	st.runEnd()
	cs.st = nil
	cs.phase = phHead
	c.SetBusy(false)
	srv := cs.ls.srv
	if !st.adapter && srv.cfg.IdleTimeout > 0 {
		c.SetIdleTimeout(srv.cfg.IdleTimeout)
	}
	if !st.resp.keep || cs.draining {
		cs.phase = phDone
		c.Close()
		return
	}
	if cs.paused {
		cs.paused = false
		c.ResumeRead()
	}
	srv.serve(c, cs)
}

// goodbye runs when the server begins to drain: a native stream, which
// would go on for ever, is ended now, after its OnGoodbye; the adapter's
// handler is still running and is waited for, its response saying
// "Connection: close".
func (st *Stream) goodbye(c loop.Conn, cs *connState) {
	st.resp.keep = false
	if st.adapter {
		return
	}
	st.mu.Lock()
	bye := st.bye
	st.bye = nil
	st.mu.Unlock()
	if bye != nil {
		bye()
	}
	st.mu.Lock()
	if !st.ended && !st.closed {
		st.ops = append(st.ops, streamOp{end: true})
		st.ended = true
		st.closeDone()
	}
	st.mu.Unlock()
	st.pump(c, cs)
}

// connClosed runs on the loop when the connection has closed.
func (st *Stream) connClosed() {
	st.mu.Lock()
	st.closed = true
	st.closeDone()
	st.space.Broadcast()
	st.mu.Unlock()
	st.runEnd()
}
