package loop

import (
	"crypto/tls"
	"errors"
	"io"
)

// The connection's side of TLS (tls.go): where the loop's reads, writes
// and closes meet the tls.Conn.

// tlsOf returns c's TLS state, nil on a plain connection.
func (c *conn) tlsOf() *tlsConn {
	if x := c.ext; x != nil {
		return x.tls
	}
	return nil
}

func (c *conn) TLS() *tls.ConnectionState {
	t := c.tlsOf()
	if t == nil || !t.live {
		return nil
	}
	st := t.tc.ConnectionState()
	return &st
}

// startTLS begins a TLS connection at accept: the handshake timeout runs
// from now; OnOpen waits for the handshake.
func (c *conn) startTLS(s *tlsServer) {
	t := newTLSConn(c)
	c.extra().tls = t
	c.state |= stHandshake
	t.timer = c.AfterFunc(s.timeout, func(Conn) { c.closeNow(ErrTLSHandshakeTimeout) })
}

// signalTLS tells the loop that the handshake goroutine wrote or ended.
func (c *conn) signalTLS() {
	if c.signal.Or(sigTLS) == 0 {
		c.loop.signal(c)
	}
}

// handshakeInput hands what was read during the handshake to its
// goroutine, and starts one once the first record is whole.
func (c *conn) handshakeInput(t *tlsConn, data []byte) {
	if len(data) == 0 {
		return
	}
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return
	}
	t.in = append(t.in, data...)
	bad, start := false, false
	if !t.started && len(t.in) >= recordHeader {
		// A TLS record header: type 22 (handshake), version 3.x, length.
		size := int(t.in[3])<<8 | int(t.in[4])
		switch {
		case t.in[0] != 22 || t.in[1] != 3 || size > maxHandshakeRecord:
			bad = true
		case len(t.in) >= recordHeader+size:
			t.started, start = true, true
			t.in = splitHello(t.in, size) // tls_records.go
		}
	}
	held := cap(t.in)
	t.mu.Unlock()
	t.cond.Signal()
	c.accountHandshake(t, held)
	switch {
	case bad:
		c.beginClose(ErrNotTLS)
	case start:
		c.loop.e.tls.start(t)
	}
}

// accountHandshake brings the loop's count of held input up to held, the
// capacity of t's handshake input now: ciphertext waiting for its
// handshake counts against the budget like any other input.
func (c *conn) accountHandshake(t *tlsConn, held int) {
	if d := held - t.acct; d != 0 {
		c.loop.cnt.inBytes.Add(int64(d))
		t.acct = held
	}
}

// handshakeRoom limits a read during the handshake to what may still be
// buffered; at the bound, reading stops until the handshake is done.
func (c *conn) handshakeRoom(t *tlsConn) int {
	k := t.room()
	if k <= 0 && !t.held {
		t.held = true
		c.pauses++
		c.updateInterest()
	}
	return k
}

// tlsSignaled queues what the handshake goroutine wrote and, once it has
// ended, fails the connection or opens it to the handler.
func (c *conn) tlsSignaled() {
	t := c.tlsOf()
	if t == nil || t.live {
		return
	}
	t.mu.Lock()
	out := t.out
	t.out = nil
	done, err, tc := t.done, t.err, t.tc
	t.mu.Unlock()
	if c.state&(stClosed|stClosing) != 0 {
		return
	}
	if len(out) > 0 {
		c.queueRaw(out)
	}
	if !done {
		return
	}
	t.timer.Stop()
	t.timer = nil
	if err != nil {
		t.failed = true // crypto/tls queued its alert: flushed, then FIN
		c.beginClose(&TLSError{Op: "handshake", Err: err})
		return
	}
	c.loop.e.tls.handshakes.Add(1)
	t.mu.Lock()
	rest := t.in // what the client sent behind its Finished
	t.in = nil
	t.mu.Unlock()
	c.accountHandshake(t, 0) // rest is delivered now, then dropped
	t.tc, t.live = tc, true
	c.state &^= stHandshake
	if t.held {
		c.pauses--
		c.updateInterest()
	}
	t.tlsHandshake = nil // the goroutine has returned: nothing else refers to it
	if err := c.loop.call(cbOpen, c, nil); err != nil {
		c.closeNow(err)
		return
	}
	c.afterCallback()
	if c.state&(stClosed|stClosing) == 0 {
		c.deliverTLS(t, rest)
	}
}

// deliverTLS decrypts data, one read's ciphertext, and hands the records'
// plaintext to the handler. A record that data ends inside waits in the
// tls.Conn for the next read.
func (c *conn) deliverTLS(t *tlsConn, data []byte) {
	l := c.loop
	if l.plain == nil {
		l.plain = make([]byte, tlsPlainBuffer)
	}
	t.src = data
	defer func() { t.src = nil }()
	for c.state&(stClosed|stClosing) == 0 {
		n, err := t.tc.Read(l.plain)
		if n > 0 {
			c.plainInput(l.plain[:n])
		}
		switch {
		case err == nil:
		case err == errWouldBlock:
			return
		case err == io.EOF: // close_notify, or a FIN at a record boundary
			if c.state&(stClosed|stClosing|stPeerEOF) == 0 {
				c.peerEOF()
			}
			return
		case errors.Is(err, io.ErrUnexpectedEOF):
			c.closeNow(ErrTLSTruncated)
			return
		default:
			t.failed = true
			c.beginClose(&TLSError{Op: "record", Err: err})
			return
		}
	}
}

// tlsEOF: the peer closed TCP. crypto/tls decides whether that ends the
// input cleanly (at a record boundary) or truncates a record.
func (c *conn) tlsEOF(t *tlsConn) {
	t.eof = true
	c.deliverTLS(t, nil)
}

// plainInput hands decrypted input to OnData, or, while the connection
// does not read (paused by the handler, a consumer or the budget), keeps
// it for when it reads again.
func (c *conn) plainInput(p []byte) {
	if c.state&(stReadPaused|stBudgetPaused|stPeerEOF) == 0 && c.pauses == 0 {
		c.deliverPlain(p)
		return
	}
	max := c.loop.opts.MaxBufferedInput
	view, err := c.feed(p, max)
	if err == nil {
		err = c.keep(view, max)
	}
	c.accountInput()
	if err != nil {
		c.closeNow(err)
	}
}

// writeTLS encrypts p into records on the outbound queue.
func (c *conn) writeTLS(t *tlsConn, p []byte) {
	if !t.live || t.closeNotify || t.failed {
		return
	}
	if _, err := t.tc.Write(p); err != nil {
		t.failed = true
		c.beginClose(&TLSError{Op: "record", Err: err})
	}
}

// tlsCloseNotify queues close_notify ahead of a graceful close's FIN.
func (c *conn) tlsCloseNotify() {
	if t := c.tlsOf(); t != nil && t.live && !t.failed && !t.closeNotify {
		t.closeNotify = true
		t.tc.CloseWrite() // the alert goes through Write, onto the queue
	}
}

// tlsClosed ends a handshake the connection did not finish.
func (c *conn) tlsClosed() {
	t := c.tlsOf()
	if t == nil || t.live {
		return
	}
	c.loop.e.tls.failures.Add(1)
	t.abort()
	c.accountHandshake(t, 0)
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}
