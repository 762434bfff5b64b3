// Package server is Shoal's engine API: a Server runs a Handler over many
// long-lived connections with one event loop per core (epoll on Linux,
// kqueue on macOS and the BSDs) instead of a goroutine per connection.
//
// The data path: each loop waits for readiness, reads a ready connection into
// the loop's shared buffer and calls OnData with a view of the bytes. Bytes
// the handler leaves unconsumed (an unfinished message) move into a pooled
// per-connection buffer; an idle connection holds no buffer at all. Writes
// are queued on the connection and flushed with one writev per connection at
// the end of the loop's event batch; when the kernel pushes back (EAGAIN or a
// partial write) the rest stays queued and the loop waits for writability.
// Other goroutines reach a connection through its loop's task queue
// (AsyncWrite, Wake, Close) and never block on it.
//
// Everything that grows is bounded: the outbound queue by its watermarks
// and the slow-consumer policy, unconsumed input by WithMaxBufferedInput,
// the task queue by WithTaskQueueSize, connections by WithMaxConns. Each
// loop has a timing wheel for idle timeouts, deadlines and AfterFunc, so
// connections hold no runtime timers. A panic in a callback closes only its
// connection.
//
// On platforms without epoll or kqueue, and with WithEngine(EnginePortable),
// the same loops run over std net: a reader and a writer goroutine per
// connection only move bytes, and every callback still runs on a loop
// goroutine. The loops, the connection state machine and the Conn and
// Handler types are package loop's; this package names them too and adds
// the server's lifecycle, options and listeners. Package serve wires a
// server into a production main (admin endpoints, memory governor,
// graceful drain on SIGTERM).
//
// A minimal echo server:
//
//	type echo struct{ server.NopHandler } // no-op OnOpen and OnClose
//
//	func (echo) OnData(c server.Conn) {
//		b, _ := c.Next(0) // everything that has arrived
//		c.Write(b)        // queued, flushed at the end of the batch
//	}
//
//	s, err := server.New(echo{})
//	if err != nil { ... }
//	go s.ListenAndServe("tcp", "127.0.0.1:9000")
//	...
//	s.Close()
package server
