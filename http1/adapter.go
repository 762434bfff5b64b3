package http1

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// AdapterConfig configures Adapt. Zero fields take the defaults.
type AdapterConfig struct {
	// Workers bounds the goroutines running handlers at once (default
	// 512). A worker exits when no request waits for it.
	Workers int
	// Queue bounds the requests waiting for a worker (default 8192); past
	// it a request is answered 503 at once.
	Queue int
	// FlushAt is how much body a handler writes before it goes out as a
	// chunk without a Flush (default 32 KiB).
	FlushAt int
	// Logger receives handler panics (default slog.Default()).
	Logger *slog.Logger
}

// Adapt returns a Handler that serves requests with h, an ordinary
// net/http.Handler (http.ServeMux, the common routers), on a bounded pool
// of worker goroutines, so that a handler that blocks never blocks a
// loop. The request is parsed on the loop and copied into an
// *http.Request; what the handler writes goes back through the loop, in
// request order: a response written whole gets a Content-Length, one
// flushed (http.Flusher) goes out in chunks. The request's context ends
// when the connection closes. A handler panic is logged, answered 500 if
// nothing was sent, and closes the connection. Hijacking is not
// supported: WebSocket upgrades belong to the loop (package ws).
func Adapt(h http.Handler, cfg AdapterConfig) Handler {
	a := &adapter{h: h, flushAt: cfg.FlushAt, log: cfg.Logger}
	a.pool.max, a.pool.queueMax = cfg.Workers, cfg.Queue
	if a.pool.max <= 0 {
		a.pool.max = 512
	}
	if a.pool.queueMax <= 0 {
		a.pool.queueMax = 8192
	}
	if a.flushAt <= 0 {
		a.flushAt = 32 << 10
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

type adapter struct {
	h       http.Handler
	flushAt int
	log     *slog.Logger
	pool    pool
}

// call is one request on its way through the adapter: the request, the
// handler's writer and the stream back to the loop, in one allocation.
// Small heads and bodies are built in its own arrays, so that a short
// answer costs no allocation beyond the call.
type call struct {
	st   Stream
	ww   workerWriter
	req  *http.Request
	a    *adapter
	ops  [2]streamOp
	head [128]byte
	body [256]byte
}

func (a *adapter) ServeHTTP1(w *ResponseWriter, r *Request) {
	cs := w.cs
	if cs.ctx == nil { // one context per connection, ended when it closes
		cs.ctx, cs.cancel = context.WithCancel(context.Background())
		cs.remote = w.c.RemoteAddr().String()
		cs.tls = w.c.TLS()
	}
	req, err := newHTTPRequest(cs, r)
	if err != nil {
		w.WriteHeader(400)
		w.Header("Connection", "close")
		return
	}
	k := &call{req: req, a: a}
	k.st.init(w.c, w.ls.srv.cfg.MaxStreamQueue)
	k.st.adapter, k.st.ops = true, k.ops[:0]
	k.ww = workerWriter{st: &k.st, hdr: make(http.Header, 2), status: 200, flushAt: a.flushAt,
		head: k.head[:0], body: k.body[:0]}
	if !a.pool.submit(k) {
		w.WriteHeader(503)
		w.Header("Retry-After", "1")
		return
	}
	w.st = &k.st
}

// run serves the request on a worker.
func (k *call) run() {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				k.a.log.Error("http1: handler panic", "method", k.req.Method, "target", k.req.RequestURI, "panic", p)
			}
			k.ww.abort()
		}
	}()
	k.a.h.ServeHTTP(&k.ww, k.req)
	k.ww.end()
}

// newHTTPRequest copies r into a net/http request, as net/http's server
// would have made it.
func newHTTPRequest(cs *connState, r *Request) (*http.Request, error) {
	// As net/textproto does: the target and the field values share one
	// string, the one-value slices one array, so the head costs two
	// allocations, not two per field.
	n := len(r.Target)
	for _, f := range r.Headers {
		n += len(f.Value)
	}
	all := make([]byte, 0, n)
	all = append(all, r.Target...)
	for _, f := range r.Headers {
		all = append(all, f.Value...)
	}
	strs := unsafe.String(unsafe.SliceData(all), len(all)) // all is never written again
	target, off := strs[:len(r.Target)], len(r.Target)
	req, err := http.NewRequestWithContext(cs.ctx, methodString(r.Method), target, nil)
	if err != nil {
		return nil, err
	}
	if target != "*" && !strings.HasPrefix(target, "/") { // absolute-form: as net/http's server parses it
		if req.URL, err = url.ParseRequestURI(target); err != nil {
			return nil, err
		}
	}
	hdr, slots := req.Header, make([]string, len(r.Headers))
	for i, f := range r.Headers {
		v := strs[off : off+len(f.Value)]
		off += len(f.Value)
		k, ok := commonHeaders[string(f.Name)]
		if !ok {
			k = http.CanonicalHeaderKey(string(f.Name))
		}
		if vs, dup := hdr[k]; dup {
			hdr[k] = append(vs, v)
			continue
		}
		slots[i] = v
		hdr[k] = slots[i : i+1 : i+1]
	}
	req.Proto, req.ProtoMinor = "HTTP/1.1", r.Minor
	if r.Minor == 0 {
		req.Proto = "HTTP/1.0"
	}
	switch hs := hdr["Host"]; {
	case req.URL.Host != "":
		req.Host = req.URL.Host
	case len(hs) > 0 && hs[0] == string(r.Host):
		req.Host = hs[0] // the same bytes: share the string
	default:
		req.Host = string(r.Host)
	}
	req.RemoteAddr, req.RequestURI, req.TLS = cs.remote, target, cs.tls
	req.Close = !r.KeepAlive
	req.ContentLength, req.Body = int64(len(r.Body)), http.NoBody
	if r.Chunked {
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	}
	if len(r.Body) > 0 || r.Chunked {
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(r.Body)))
	}
	return req, nil
}

// methodString returns m as a string, without an allocation for the
// methods of RFC 9110.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "PATCH":
		return "PATCH"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	return string(m)
}

// commonHeaders maps the header names clients send most, as they send
// them, to their canonical form, which then costs no allocation.
var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection",
		"Content-Type", "Content-Length", "Cookie", "Authorization", "Referer", "Origin", "Cache-Control",
		"If-None-Match", "If-Modified-Since", "Upgrade", "X-Forwarded-For", "X-Request-Id", "Expect", "Transfer-Encoding"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

// workerWriter is the http.ResponseWriter of a handler on a worker. It
// buffers the body and hands it, with the head, to the stream.
type workerWriter struct {
	st        *Stream
	hdr       http.Header
	status    int
	flushAt   int
	wrote     bool   // WriteHeader has run
	committed bool   // the head has been handed over
	head      []byte // where the head's fields are built
	body      []byte
}

var _ http.Flusher = (*workerWriter)(nil)

func (ww *workerWriter) Header() http.Header { return ww.hdr }

func (ww *workerWriter) WriteHeader(code int) {
	if ww.wrote || code < 200 || code > 999 { // informational answers are not sent
		return
	}
	ww.wrote, ww.status = true, code
}

func (ww *workerWriter) Write(p []byte) (int, error) {
	ww.WriteHeader(200)
	ww.body = append(ww.body, p...)
	if err := ww.spill(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write for a string (io.StringWriter), without the copy
// io.WriteString would make.
func (ww *workerWriter) WriteString(s string) (int, error) {
	ww.WriteHeader(200)
	ww.body = append(ww.body, s...)
	if err := ww.spill(); err != nil {
		return 0, err
	}
	return len(s), nil
}

// spill sends the body written so far once it reaches flushAt.
func (ww *workerWriter) spill() error {
	if len(ww.body) < ww.flushAt {
		return nil
	}
	return ww.send(false)
}

// Flush sends the head and what has been written.
func (ww *workerWriter) Flush() {
	ww.WriteHeader(200)
	ww.send(false)
}

func (ww *workerWriter) end() {
	ww.WriteHeader(200)
	ww.send(true)
}

// abort ends the response after a panic: 500 if nothing went out, and
// the connection closes either way.
func (ww *workerWriter) abort() {
	if !ww.committed {
		ww.status, ww.hdr, ww.body = 500, http.Header{}, nil
	}
	ww.hdr.Set("Connection", "close")
	ww.send(true)
}

// serverFields are the fields the server writes itself.
var serverFields = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Date": true, "Connection": true}

// send hands the body written so far, and the head the first time, to
// the loop. It waits while the stream's queue is full.
func (ww *workerWriter) send(last bool) error {
	op := streamOp{data: ww.body, end: last}
	ww.body = nil
	if !ww.committed {
		ww.committed = true
		if _, ok := ww.hdr["Content-Type"]; !ok && len(op.data) > 0 && ww.hdr.Get("Content-Encoding") == "" {
			ww.hdr.Set("Content-Type", http.DetectContentType(op.data))
		}
		op.head, op.status, op.hdr = true, ww.status, appendFields(ww.head, ww.hdr)
		op.close = ww.hdr.Get("Connection") == "close"
	}
	if len(op.data) == 0 && !op.head && !op.end {
		return nil
	}
	return ww.st.put(op, true)
}

// appendFields appends the handler's header fields but the server's own,
// as "Name: value" lines, dropping values that hold CR or LF.
func appendFields(b []byte, h http.Header) []byte {
	for k, vs := range h {
		if serverFields[k] {
			continue
		}
		for _, v := range vs {
			if !validField(k, v) {
				continue
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// pool runs calls on at most max goroutines, with at most queueMax
// waiting for one. A worker that has had nothing to do for poolIdle exits,
// so an idle server holds none, and a busy one does not start a goroutine
// (and grow its stack) per request.
//
// Every call goes through jobs. queued counts the calls in it, idle the
// workers waiting on it (a worker just started counts as waiting); a
// worker is started whenever the calls outnumber the waiting workers, so
// no call waits behind a busy worker while fewer than max run, and a
// worker exits only if the others waiting cover what is queued.
type pool struct {
	mu       sync.Mutex
	running  int // workers
	idle     int // workers waiting on jobs
	queued   int // calls in jobs
	max      int
	queueMax int
	jobs     chan *call // made on first use, with room for queueMax+max
}

const poolIdle = 200 * time.Millisecond

// submit queues the call f for a worker, or reports false when every
// worker is busy and queueMax calls already wait.
func (p *pool) submit(f *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jobs == nil {
		p.jobs = make(chan *call, p.queueMax+p.max)
	}
	if p.queued >= p.queueMax+p.idle+(p.max-p.running) {
		return false
	}
	p.jobs <- f // there is room: queued < queueMax+max
	p.queued++
	if p.queued > p.idle && p.running < p.max {
		p.running++
		p.idle++
		go p.work()
	}
	return true
}

// work is a worker, counted in running and idle by submit. It arms its
// idle timer only when it finds nothing to do.
func (p *pool) work() {
	t := time.NewTimer(poolIdle)
	defer t.Stop()
	for {
		var f *call
		select {
		case f = <-p.jobs:
		default:
			t.Reset(poolIdle)
			select {
			case f = <-p.jobs:
			case <-t.C:
			}
		}
		p.mu.Lock()
		if f == nil {
			if p.queued >= p.idle { // more calls than the other waiting workers
				p.mu.Unlock()
				continue
			}
			p.idle--
			p.running--
			p.mu.Unlock()
			return
		}
		p.idle--
		p.queued--
		p.mu.Unlock()
		f.run()
		p.mu.Lock()
		p.idle++
		p.mu.Unlock()
	}
}
