// Package http1 is HTTP/1.1 on the event loop (RFC 9112): a server that
// is a loop.Handler, an incremental zero-copy request parser, a response
// writer, streams for answers that go on (Server-Sent Events), and an
// adapter that runs an ordinary net/http.Handler on a bounded worker pool.
//
//	h := http1.HandlerFunc(func(w *http1.ResponseWriter, r *http1.Request) {
//		w.Header("Content-Type", "text/plain")
//		w.WriteString("Hello, World!")
//	})
//	s, err := server.New(http1.NewServer(h, http1.Config{}))
//	...
//	s.ListenAndServe("tcp", "127.0.0.1:8080")
//
// # Two handler styles
//
// A native Handler runs on the connection's loop goroutine: the request's
// fields are views into the input, the whole body is there (decoded when
// chunked, up to Limits.MaxBody), and the response is built in the loop's
// buffer, so a request costs no allocation. It must not block. For a
// handler that does (a database, another service), Adapt runs a
// net/http.Handler (http.ServeMux, the common routers) on worker
// goroutines: the request is copied into an *http.Request, and what the
// handler writes comes back through the loop, in order.
//
// # The connection
//
// Requests are answered in order, pipelined or not. A response is sent
// with a Content-Length, or chunked once the handler flushes (HTTP/1.0:
// delimited by the close). A keep-alive connection closes after a request
// that says "Connection: close", after an HTTP/1.0 request without
// keep-alive, after its client half-closes and has been answered, and
// after IdleTimeout without a request. Expect: 100-continue is answered
// when the body has not come yet. While a connection's outbound queue is
// above the engine's low watermark (a client that pipelines and does not
// read), the requests behind wait and reading pauses; nothing is queued
// past the high watermark.
//
// # Rejections
//
// Every rejection is an *Error with the status to answer (compare with
// errors.Is against the Err values); the server answers it with
// "Connection: close" and closes, the framing of what follows being
// unknown:
//
//   - a malformed request line, a header line without a colon or with
//     whitespace before it, obsolete line folding, a bare CR, control
//     bytes in a value: 400;
//   - HTTP/1.1 without Host, or two Hosts: 400;
//   - Content-Length with Transfer-Encoding (request smuggling), two
//     Content-Lengths, or one that is not plain digits: 400;
//   - a bad chunk size, or a chunk line not ended by CRLF: 400;
//   - a Transfer-Encoding other than chunked: 501; an Expect other than
//     100-continue: 417; a version other than HTTP/1.x: 505;
//   - a request line over Limits.MaxRequestLine: 414; a head over
//     Limits.MaxHeaderBytes or with more than Limits.MaxHeaders fields:
//     431, as soon as the buffered input passes the limit; a body over
//     Limits.MaxBody: 413 before any of it is read;
//   - a head not whole within Config.HeaderTimeout of its first byte, or
//     a body not whole within Config.BodyTimeout: 408 (slowloris).
//
// Bare LF line endings are accepted in the head (RFC 9112 2.2), as are
// empty lines before the request line. The engine counts these closes as
// protocol errors (408: timeouts).
//
// # Shutdown
//
// The server is a loop.GoodbyeHandler: when the engine drains, an idle
// keep-alive connection closes at once; a request in flight is finished
// and its response says "Connection: close"; a native Stream is ended.
package http1
