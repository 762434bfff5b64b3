package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/devcert"
	"github.com/shoalnet/shoal/server"
)

// TestTLSDrain: over TLS, a drain answers the request in flight in full
// with "Connection: close", closes the idle keep-alive connection at once,
// and ends each with close_notify (the clients read io.EOF, not a
// truncation); on both engines.
func TestTLSDrain(t *testing.T) {
	cert, ca, err := devcert.Local()
	if err != nil {
		t.Fatal(err)
	}
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	h := HandlerFunc(func(w *ResponseWriter, r *Request) { w.Write(r.Body) })
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s, addr := startHTTP(t, h, Config{}, e.opt, server.WithLoops(1),
				server.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
			open := func() (*tls.Conn, *bufio.Reader) {
				c := tls.Client(dial(t, addr), client)
				c.SetDeadline(time.Now().Add(30 * time.Second))
				return c, bufio.NewReader(c)
			}
			// An idle keep-alive connection, after one request.
			idle, ir := open()
			io.WriteString(idle, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
			if resp, err := http.ReadResponse(ir, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("idle connection's request: %v %v", resp, err)
			} else if b, _ := io.ReadAll(resp.Body); string(b) != "hi" {
				t.Fatalf("idle connection's answer: %q", b)
			}
			// A request in flight: its head and half its body, read by the
			// server before the drain.
			body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			half := len(body) / 2
			busy, br := open()
			before := s.Stats().BytesIn
			busy.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n"))
			busy.Write(body[:half])
			for deadline := time.Now().Add(20 * time.Second); s.Stats().BytesIn < before+uint64(half); {
				if time.Now().After(deadline) {
					t.Fatal("the server did not read the first half")
				}
				time.Sleep(5 * time.Millisecond)
			}
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(context.Background()) }()

			if n, err := ir.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("idle connection at the drain: %d bytes, %v; want io.EOF (close_notify)", n, err)
			}
			busy.Write(body[half:])
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(got, body) || !resp.Close {
				t.Fatalf("request in flight: %d bytes back (equal %v), close %v, %v", len(got), bytes.Equal(got, body), resp.Close, err)
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after the last answer: %d bytes, %v; want io.EOF (close_notify)", n, err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}
