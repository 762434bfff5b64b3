package main

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// The HTTP "hello" scenario: every engine answers any request with the same
// small response. The servers on raw engines (shoal, stdnet, gnet,
// netpoll) share the request parser and the responses of this file;
// net/http and nbio's nbhttp use their own.

// helloBody is the body of every answer.
const helloBody = "Hello, World!"

// httpMaxHeader bounds a request head: the request line and the headers, up
// to and including the blank line that ends them.
const httpMaxHeader = 8 << 10

var (
	errHeaderTooLarge = errors.New("http: request head above 8 KiB")
	errBadRequest     = errors.New("http: malformed request")
	errBodyRefused    = errors.New("http: request bodies are not served")
)

// httpRequest is what a server needs to know of one request.
type httpRequest struct {
	size  int  // bytes of the request; 0: not complete yet
	head  bool // HEAD: answer without the body
	close bool // close after the answer (Connection: close, or HTTP/1.0 without keep-alive)
}

var crlfcrlf = []byte("\r\n\r\n")

// parseRequest parses the request at the start of b. It returns a zero
// size and no error when b holds only the beginning of a request. Requests
// with a body (a Content-Length other than 0, any Transfer-Encoding) are
// refused with errBodyRefused, heads above httpMaxHeader with
// errHeaderTooLarge.
func parseRequest(b []byte) (httpRequest, error) {
	end := bytes.Index(b[:min(len(b), httpMaxHeader)], crlfcrlf)
	if end < 0 {
		if len(b) >= httpMaxHeader {
			return httpRequest{}, errHeaderTooLarge
		}
		return httpRequest{}, nil
	}
	line, rest := cutLine(b[:end+2])
	head, ok := parseRequestLine(line)
	if !ok {
		return httpRequest{}, errBadRequest
	}
	keepAlive := line[len(line)-1] == '1' // HTTP/1.1 keeps alive by default, HTTP/1.0 does not
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || !isToken(name) {
			return httpRequest{}, errBadRequest // includes obsolete line folding
		}
		value = bytes.Trim(value, " \t")
		switch {
		case equalFold(name, "Content-Length"):
			if string(value) != "0" {
				return httpRequest{}, errBodyRefused
			}
		case equalFold(name, "Transfer-Encoding"):
			return httpRequest{}, errBodyRefused
		case equalFold(name, "Connection"):
			if hasToken(value, "close") {
				keepAlive = false
			} else if hasToken(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	return httpRequest{size: end + len(crlfcrlf), head: head, close: !keepAlive}, nil
}

// cutLine splits b after its first CRLF; b must contain one.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, crlfcrlf[:2])
	return b[:i], b[i+2:]
}

// parseRequestLine checks "METHOD SP target SP HTTP/1.x" and reports
// whether the method is HEAD (the only method that changes the answer).
func parseRequestLine(line []byte) (head, ok bool) {
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 || !isToken(method) {
		return false, false
	}
	target, version, ok := bytes.Cut(rest, []byte(" "))
	if !ok || len(target) == 0 || bytes.ContainsAny(target, " \t\x00\x7f") {
		return false, false
	}
	if string(version) != "HTTP/1.1" && string(version) != "HTTP/1.0" {
		return false, false
	}
	return string(method) == "HEAD", true
}

// isToken reports whether b is an RFC 9110 token (the characters of a method
// or a header name).
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// equalFold compares an ASCII header name with s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i]|0x20 {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token t
// (ASCII letters and '-', compared without case).
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if equalFold(bytes.Trim(item, " \t"), t) {
			return true
		}
	}
	return false
}

// helloAnswers are the two answers of one second: their Date header
// changes every second, as net/http's does.
type helloAnswers struct {
	sec       int64
	keepAlive []byte // ends with helloBody
	close     []byte // the same with "Connection: close"
}

var helloCache atomic.Pointer[helloAnswers]

// currentHello returns the answers of the current second, building them at
// most once a second (per caller racing at the turn of a second).
func currentHello() *helloAnswers {
	now := time.Now()
	if h := helloCache.Load(); h != nil && h.sec == now.Unix() {
		return h
	}
	h := &helloAnswers{sec: now.Unix(), keepAlive: helloAnswer(now, false), close: helloAnswer(now, true)}
	helloCache.Store(h)
	return h
}

func helloAnswer(now time.Time, close bool) []byte {
	b := []byte("HTTP/1.1 200 OK\r\nDate: ")
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"...)
	if close {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"+helloBody...)
}

// refusal is the answer to a request that is not served.
func refusal(err error) []byte {
	status := "400 Bad Request"
	if errors.Is(err, errHeaderTooLarge) {
		status = "431 Request Header Fields Too Large"
	}
	return []byte("HTTP/1.1 " + status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

// respond answers the complete requests at the start of in, in order,
// appending the answers to out. It returns out, how many bytes of in it
// consumed, and whether the connection is to be closed once out has been
// written: a request asked for it, or one was refused (431 or 400; then all
// of in counts as consumed and the rest is ignored).
func respond(out, in []byte) ([]byte, int, bool) {
	hello := currentHello()
	used := 0
	for used < len(in) {
		req, err := parseRequest(in[used:])
		if err != nil {
			return append(out, refusal(err)...), len(in), true
		}
		if req.size == 0 {
			break
		}
		used += req.size
		answer := hello.keepAlive
		if req.close {
			answer = hello.close
		}
		if req.head {
			answer = answer[:len(answer)-len(helloBody)]
		}
		out = append(out, answer...)
		if req.close {
			return out, used, true
		}
	}
	return out, used, false
}
