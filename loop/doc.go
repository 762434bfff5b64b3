// Package loop is Shoal's event loop: a Group of loops, one per core by
// default, each owning a set of connections, a task queue and a timing
// wheel, in the spirit of Netty's EventLoopGroup. The connection state
// machine (read path, outbound queue and its admission, close, half-close
// and linger, deadlines, drain, shedding) is written here once and driven
// by both engines: epoll or kqueue where the platform has them, and a
// portable transport over std net elsewhere, whose per-connection
// goroutines only move bytes. Every callback runs on a loop goroutine on
// both.
//
// Most programs reach this package through the server package (server.New
// makes the Group, server.Conn is Conn). Protocol code uses it to stay on
// a connection's loop without locks:
//
//	func (h *handler) OnOpen(c loop.Conn) {
//		l := c.Loop()
//		// Timers come from the loop's wheel, not the runtime.
//		c.AfterFunc(30*time.Second, func(c loop.Conn) { c.Write(ping) })
//		// Work from other goroutines comes back to the loop as a task.
//		go func() {
//			v := lookup()
//			l.Execute(func() { h.cache[l.Index()] = v })
//		}()
//	}
//
// Which goroutine may call what: Handler callbacks, AfterFunc functions and
// Execute tasks run on the loop goroutine, one at a time, and must not
// block. Methods documented "loop only" may be called only there (Loop's
// InLoop asserts it); the others are safe for concurrent use.
//
// Memory is bounded: the outbound queue by its watermarks and the
// slow-consumer policy, unconsumed input by Config.MaxBufferedInput, the
// task queue by Config.TaskQueueSize, connections by Config.MaxConns. An
// idle connection holds no read or write buffer.
package loop
