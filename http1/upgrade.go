package http1

import "github.com/shoalnet/shoal/loop"

// Upgraded is the protocol a connection switches to after a 101 answer
// (ResponseWriter.Upgrade), such as WebSocket: from then on the Server
// passes it the connection's events, on the connection's loop, and
// serves no more requests on it.
type Upgraded interface {
	// OnOpen: the 101 is queued and the connection is the protocol's;
	// it runs before any other callback, and the protocol may write.
	OnOpen(c loop.Conn)
	// OnData: input is buffered on c (c.Peek, c.Discard). The bytes that
	// followed the upgrade request are the first of it.
	OnData(c loop.Conn)
	OnWritable(c loop.Conn)
	OnWake(c loop.Conn)
	OnEOF(c loop.Conn)
	// OnGoodbye: the server is draining; the protocol says goodbye its
	// own way and closes the connection.
	OnGoodbye(c loop.Conn)
	OnClose(c loop.Conn, err error)
}

// Upgrade answers the request with "101 Switching Protocols" to
// protocol (the Upgrade field), with the fields the handler added, and
// hands the connection to u once the answer is queued. Only from a native
// handler on the loop; the status and body the handler set are ignored.
func (w *ResponseWriter) Upgrade(protocol string, u Upgraded) {
	w.up = u
	w.Header("Upgrade", protocol)
	w.hdr = append(w.hdr, "Connection: Upgrade\r\n"...)
}

// upgrade writes the 101 and gives the connection to w.up.
func (s *Server) upgrade(c loop.Conn, cs *connState, w *ResponseWriter) {
	ls := cs.ls
	w.status, w.keep = 101, true
	ls.out = w.resp.appendHead(ls.out, ls.date(), -1)
	ls.flush(c)
	s.stopTimer(cs)
	c.SetIdleTimeout(0) // the protocol keeps its own
	cs.phase = phUpgraded
	c.SetContext(w.up) // from now on the connection's context (see state)
	w.up.OnOpen(c)
	if c.Buffered() > 0 {
		w.up.OnData(c)
	}
	if cs.eof {
		w.up.OnEOF(c)
	}
}
