package http1

import (
	"strconv"
	"time"

	"github.com/shoalnet/shoal/loop"
)

// ResponseWriter builds the response to one request, on the loop. The
// status, the header fields and the body are buffered until the handler
// returns; the server then writes them with a Content-Length, a Date and,
// when the connection is to close, "Connection: close". Flush sends what
// there is at once and the rest as chunks; Stream hands the response to
// other goroutines. A ResponseWriter belongs to its loop and is reused:
// it is valid only until ServeHTTP1 returns.
type ResponseWriter struct {
	resp
	body    []byte
	flushed bool     // the head has been written (chunked, or close-delimited for 1.0)
	st      *Stream  // set by Stream
	up      Upgraded // set by Upgrade
	c       loop.Conn
	cs      *connState
	ls      *loopState
	req     *Request
}

// resp is what a response's head depends on; a Stream keeps a copy.
type resp struct {
	status int
	hdr    []byte // header lines added by the handler, "Name: value\r\n" each
	minor  int    // the request's HTTP/1.x
	isHead bool   // a HEAD request: no body is sent
	keep   bool   // the connection stays open after this response
}

// WriteHeader sets the status code (default 200). It has no effect once
// the head has been sent (after Flush), nor for codes below 200: the
// server sends 100 Continue itself, and other informational answers are
// not supported.
func (w *ResponseWriter) WriteHeader(code int) {
	if !w.flushed && code >= 200 && code <= 999 {
		w.status = code
	}
}

// Header adds a header field to the response. The server writes Date,
// Content-Length and Transfer-Encoding itself and ignores them here;
// "Connection: close" makes the connection close after the response.
// Values must not hold CR or LF; such a field is dropped. No effect once
// the head has been sent.
func (w *ResponseWriter) Header(name, value string) {
	if w.flushed || !validField(name, value) {
		return
	}
	switch {
	case len(name) != 4 && len(name) != 10 && len(name) != 14 && len(name) != 17: // none of the server's own
	case equalFold(name, "Date"), equalFold(name, "Content-Length"), equalFold(name, "Transfer-Encoding"):
		return
	case equalFold(name, "Connection"):
		if equalFold(value, "close") {
			w.keep = false
		}
		return
	}
	w.hdr = append(w.hdr, name...)
	w.hdr = append(w.hdr, ": "...)
	w.hdr = append(w.hdr, value...)
	w.hdr = append(w.hdr, "\r\n"...)
}

// Write appends p to the body. It never fails on an open connection.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString appends s to the body.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	w.body = append(w.body, s...)
	return len(s), nil
}

// Flush sends the head and the body written so far, and makes the rest of
// the body go out in chunks (HTTP/1.0: until the connection closes). It is
// how a handler sends a long answer piece by piece while it runs.
func (w *ResponseWriter) Flush() {
	if !w.flushed {
		w.flushed = true
		w.ls.out = w.resp.appendHead(w.ls.out, w.ls.date(), -1)
	}
	w.ls.out = w.resp.appendChunk(w.ls.out, w.body)
	w.body = w.body[:0]
	w.ls.flush(w.c)
}

// Stream keeps the response open after ServeHTTP1 returns: the head and
// what was written so far are sent, and the stream's Write and Close,
// from any goroutine, send the rest (Server-Sent Events, long polls).
// Requests pipelined behind this one wait until the stream is closed.
func (w *ResponseWriter) Stream() *Stream {
	if w.st == nil {
		w.st = newStream(w.c, w.ls.srv.cfg.MaxStreamQueue)
	}
	return w.st
}

// Request returns the request being answered.
func (w *ResponseWriter) Request() *Request { return w.req }

// Conn returns the connection, for its addresses and its loop.
func (w *ResponseWriter) Conn() loop.Conn { return w.c }

// finish appends the rest of the response once the handler has returned.
func (w *ResponseWriter) finish() {
	ls := w.ls
	switch {
	case w.flushed:
		ls.out = w.resp.appendChunk(ls.out, w.body)
		ls.out = w.resp.appendEnd(ls.out)
	default:
		ls.out = w.resp.appendHead(ls.out, ls.date(), len(w.body))
		if w.resp.hasBody() {
			ls.out = append(ls.out, w.body...)
		}
	}
}

// hasBody reports whether the response carries a body on the wire.
func (r *resp) hasBody() bool {
	return !r.isHead && r.status >= 200 && r.status != 204 && r.status != 304
}

// chunked reports whether a response of unknown length is sent chunked
// (HTTP/1.1) rather than delimited by the close (HTTP/1.0).
func (r *resp) chunked() bool { return r.minor == 1 }

// appendHead appends the status line and the header fields. length is
// the body's length, or -1 when it is not known yet: then the body is
// chunked (HTTP/1.1) or ends with the connection (HTTP/1.0).
func (r *resp) appendHead(b []byte, date []byte, length int) []byte {
	b = appendStatusLine(b, r.status)
	b = append(b, "Date: "...)
	b = append(b, date...)
	b = append(b, "\r\n"...)
	b = append(b, r.hdr...)
	switch {
	case r.status < 200 || r.status == 204 || r.status == 304:
	case length >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(length), 10)
		b = append(b, "\r\n"...)
	case r.chunked():
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		r.keep = false
	}
	switch {
	case !r.keep:
		b = append(b, "Connection: close\r\n"...)
	case r.minor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendChunk appends p as one chunk of a body whose head went out
// without a length.
func (r *resp) appendChunk(b, p []byte) []byte {
	if len(p) == 0 || !r.hasBody() {
		return b
	}
	if !r.chunked() {
		return append(b, p...)
	}
	b = strconv.AppendUint(b, uint64(len(p)), 16)
	b = append(b, "\r\n"...)
	b = append(b, p...)
	return append(b, "\r\n"...)
}

// appendEnd appends the end of a chunked body.
func (r *resp) appendEnd(b []byte) []byte {
	if !r.hasBody() || !r.chunked() {
		return b
	}
	return append(b, "0\r\n\r\n"...)
}

// statusLines holds the status lines of the common codes, made once.
var statusLines = func() (t [600][]byte) {
	for code := 100; code < len(t); code++ {
		if text := StatusText(code); text != "" {
			t[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
		}
	}
	return t
}()

func appendStatusLine(b []byte, code int) []byte {
	if code < len(statusLines) && statusLines[code] != nil {
		return append(b, statusLines[code]...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, " \r\n"...)
}

// dateCache is a loop's rendering of the current time for Date fields,
// made at most once a second.
type dateCache struct {
	sec int64
	buf []byte
}

func (d *dateCache) get(now time.Time) []byte {
	if s := now.Unix(); s != d.sec || d.buf == nil {
		d.sec = s
		d.buf = now.UTC().AppendFormat(d.buf[:0], TimeFormat)
	}
	return d.buf
}

// TimeFormat is the format of Date fields (RFC 9110 5.6.7), as
// net/http.TimeFormat.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// validField reports whether a header field the handler adds can be
// written as it is.
func validField(name, value string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		if !tchar[name[i]] {
			return false
		}
	}
	for i := range len(value) {
		if c := value[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
