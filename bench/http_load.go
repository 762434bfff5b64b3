package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// httpLoadConfig is one case of the HTTP scenario.
type httpLoadConfig struct {
	addr     string
	conns    int           // connections
	depth    int           // requests in flight per connection (pipelining)
	warmup   time.Duration // not measured
	duration time.Duration // measured
}

// runHTTPLoad is a closed-loop HTTP/1.1 client: cfg.conns keep-alive
// connections each keep exactly cfg.depth GET requests in flight, writing
// one more for every complete response. Every response must be "200",
// carry a Content-Length and the body helloBody; anything else counts as a
// mismatch and stops that connection. The latency of a request is the time
// from writing it to having read its whole response. It reports like
// runLoad, with requests for messages, and calls onWindow the same way.
func runHTTPLoad(cfg httpLoadConfig, onWindow func(start bool)) (loadResult, error) {
	if cfg.depth < 1 {
		return loadResult{}, fmt.Errorf("pipeline depth %d is below 1", cfg.depth)
	}
	req := []byte("GET / HTTP/1.1\r\nHost: " + cfg.addr + "\r\n\r\n")
	return runClosedLoop(cfg.addr, cfg.conns, cfg.warmup, cfg.duration, onWindow, nil, nil, func(_ int, c net.Conn) connWorker {
		return &httpWorker{
			c:     c,
			req:   req,
			in:    make([]byte, 0, 64<<10),
			out:   make([]byte, 0, len(req)*cfg.depth),
			sent:  make([]int64, cfg.depth),
			tally: tally{hist: newHist()},
		}
	})
}

// httpWorker drives one connection.
type httpWorker struct {
	c    net.Conn
	req  []byte  // the request, the same every time
	in   []byte  // read but not yet parsed; its capacity bounds a response
	out  []byte  // requests to write
	sent []int64 // send stamps of the requests in flight, a FIFO ring
	head int     // the oldest request in flight
	tally
}

// run writes depth requests, then, for each response read, writes one more
// request; the replacements of the responses that came in one read go out
// in one write.
func (w *httpWorker) run(phase *atomic.Int32) {
	w.out = w.out[:0]
	for i := range w.sent {
		w.sent[i] = stamp()
		w.out = append(w.out, w.req...)
	}
	if _, err := w.c.Write(w.out); err != nil {
		w.fail(phase, err)
		return
	}
	for {
		if len(w.in) == cap(w.in) {
			w.mismatch, w.err = true, errors.New("http: response larger than the read buffer")
			return
		}
		n, err := w.c.Read(w.in[len(w.in):cap(w.in)])
		if err != nil {
			w.fail(phase, err)
			return
		}
		w.in = w.in[:len(w.in)+n]
		w.out = w.out[:0]
		used := 0
		for {
			size, err := parseHello(w.in[used:])
			if err != nil {
				w.mismatch, w.err = true, err
				return
			}
			if size == 0 {
				break
			}
			used += size
			now := stamp()
			if phase.Load() == phaseMeasure {
				w.msgs++
				w.hist.RecordValue(min(max(now-w.sent[w.head], histMin), histMax))
			}
			w.sent[w.head] = now
			w.out = append(w.out, w.req...)
			w.head++
			if w.head == len(w.sent) {
				w.head = 0
			}
		}
		w.in = w.in[:copy(w.in, w.in[used:])]
		if len(w.out) > 0 {
			if _, err := w.c.Write(w.out); err != nil {
				w.fail(phase, err)
				return
			}
		}
	}
}

// parseHello checks the response at the start of b: status 200, a
// Content-Length of len(helloBody) and the body helloBody. It returns the
// response's size, or 0 if b holds only part of it.
func parseHello(b []byte) (int, error) {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		return 0, nil
	}
	line, rest := cutLine(b[:end+2])
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, fmt.Errorf("http: status line %q", line)
	}
	length := -1
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		name, value, _ := bytes.Cut(line, []byte(":"))
		if equalFold(name, "Content-Length") {
			n, err := strconv.Atoi(string(bytes.Trim(value, " \t")))
			if err != nil {
				return 0, fmt.Errorf("http: Content-Length %q", value)
			}
			length = n
		}
	}
	if length != len(helloBody) {
		return 0, fmt.Errorf("http: Content-Length %d, want %d", length, len(helloBody))
	}
	size := end + len(crlfcrlf) + length
	if len(b) < size {
		return 0, nil
	}
	if string(b[size-length:size]) != helloBody {
		return 0, fmt.Errorf("http: body %q", b[size-length:size])
	}
	return size, nil
}
