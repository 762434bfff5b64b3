package http1

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
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

func (a *adapter) ServeHTTP1(w *ResponseWriter, r *Request) {
	req, err := newHTTPRequest(w, r)
	if err != nil {
		w.WriteHeader(400)
		w.Header("Connection", "close")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	st := newStream(w.c, w.ls.srv.cfg.MaxStreamQueue)
	st.adapter = true
	st.onClose = cancel
	ww := &workerWriter{st: st, hdr: make(http.Header), status: 200, flushAt: a.flushAt}
	if !a.pool.submit(func() { a.run(ww, req, cancel) }) {
		cancel()
		w.WriteHeader(503)
		w.Header("Retry-After", "1")
		return
	}
	w.st = st
}

// run serves one request on a worker.
func (a *adapter) run(ww *workerWriter, req *http.Request, cancel context.CancelFunc) {
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				a.log.Error("http1: handler panic", "method", req.Method, "target", req.RequestURI, "panic", p)
			}
			ww.abort()
		}
	}()
	a.h.ServeHTTP(ww, req)
	ww.end()
}

// newHTTPRequest copies r into a net/http request, as net/http's server
// would have made it.
func newHTTPRequest(w *ResponseWriter, r *Request) (*http.Request, error) {
	target := string(r.Target)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(r.Headers))
	for _, f := range r.Headers {
		k := http.CanonicalHeaderKey(string(f.Name))
		hdr[k] = append(hdr[k], string(f.Value))
	}
	req := &http.Request{
		Method:     string(r.Method),
		URL:        u,
		Proto:      "HTTP/1." + strconv.Itoa(r.Minor),
		ProtoMajor: 1, ProtoMinor: r.Minor,
		Header:        hdr,
		Host:          string(r.Host),
		RemoteAddr:    w.c.RemoteAddr().String(),
		RequestURI:    target,
		Close:         !r.KeepAlive,
		ContentLength: int64(len(r.Body)),
		Body:          http.NoBody,
	}
	if u.Host != "" {
		req.Host = u.Host
	}
	if r.Chunked {
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	}
	if len(r.Body) > 0 || r.Chunked {
		req.Body = io.NopCloser(bytes.NewReader(bytes.Clone(r.Body)))
	}
	return req, nil
}

// workerWriter is the http.ResponseWriter of a handler on a worker. It
// buffers the body and hands it, with the head, to the stream.
type workerWriter struct {
	st        *Stream
	hdr       http.Header
	status    int
	flushAt   int
	wrote     bool // WriteHeader has run
	committed bool // the head has been handed over
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
	if len(ww.body) >= ww.flushAt {
		if err := ww.send(false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
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

// excluded are the fields the server writes itself.
var excluded = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Date": true, "Connection": true}

// send hands the body written so far, and the head the first time, to
// the loop. It waits while the stream's queue is full.
func (ww *workerWriter) send(last bool) error {
	op := streamOp{data: ww.body, end: last}
	ww.body = nil
	if !ww.committed {
		ww.committed = true
		if ww.hdr.Get("Content-Type") == "" && len(op.data) > 0 && ww.hdr.Get("Content-Encoding") == "" {
			ww.hdr.Set("Content-Type", http.DetectContentType(op.data))
		}
		var b bytes.Buffer
		ww.hdr.WriteSubset(&b, excluded)
		op.head, op.status, op.hdr = true, ww.status, b.Bytes()
		op.close = ww.hdr.Get("Connection") == "close"
	}
	if len(op.data) == 0 && !op.head && !op.end {
		return nil
	}
	return ww.st.put(op, true)
}

// pool runs functions on at most max goroutines, with at most queueMax
// waiting. Its goroutines exit when nothing waits.
type pool struct {
	mu       sync.Mutex
	running  int
	max      int
	queue    []func()
	head     int
	queueMax int
}

// submit runs f on a worker, or reports false when all are busy and the
// queue is full.
func (p *pool) submit(f func()) bool {
	p.mu.Lock()
	if p.running < p.max {
		p.running++
		p.mu.Unlock()
		go p.work(f)
		return true
	}
	if len(p.queue)-p.head >= p.queueMax {
		p.mu.Unlock()
		return false
	}
	p.queue = append(p.queue, f)
	p.mu.Unlock()
	return true
}

func (p *pool) work(f func()) {
	for f != nil {
		f()
		p.mu.Lock()
		f = nil
		if p.head < len(p.queue) {
			f = p.queue[p.head]
			p.queue[p.head] = nil
			p.head++
			if p.head == len(p.queue) {
				p.queue, p.head = p.queue[:0], 0
			}
		} else {
			p.running--
		}
		p.mu.Unlock()
	}
}
