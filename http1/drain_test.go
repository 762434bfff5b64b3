package http1

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// TestDrainEndsStreams: at a graceful shutdown an event stream, which
// would never end by itself, is ended (what its OnGoodbye writes, then
// its last chunk sent, its writer told through Done) and its connection closed; an idle keep-alive
// connection is closed at once; Shutdown returns once both are gone.
func TestDrainEndsStreams(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		opened := make(chan *Stream, 1)
		h := HandlerFunc(func(w *ResponseWriter, r *Request) {
			if string(r.Path()) != "/events" {
				w.WriteString("Hello, World!")
				return
			}
			w.Header("Content-Type", "text/event-stream")
			w.WriteString("data: hello\n\n")
			st := w.Stream()
			st.OnGoodbye(func() { st.WriteString("data: bye\n\n") })
			opened <- st
		})
		s, addr := startHTTP(t, h, Config{}, eng)

		events := dial(t, addr)
		events.Write([]byte("GET /events HTTP/1.1\r\nHost: a\r\n\r\n"))
		er := bufio.NewReader(events)
		resp := readHead(t, er)
		if !strings.Contains(resp, "Transfer-Encoding: chunked") {
			t.Fatalf("stream head %q", resp)
		}
		st := <-opened
		if _, err := st.WriteString("data: more\n\n"); err != nil {
			t.Fatal(err)
		}

		idle := dial(t, addr)
		idle.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
		ir := bufio.NewReader(idle)
		readAll(t, ir, "GET")

		// Clients that close once they see the server's FIN, as browsers do.
		idleDone := make(chan error, 1)
		go func() {
			_, err := ir.ReadByte()
			idle.Close()
			idleDone <- err
		}()
		streamDone := make(chan []byte, 1)
		go func() {
			rest, _ := io.ReadAll(er)
			events.Close()
			streamDone <- rest
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := <-idleDone; err != io.EOF {
			t.Errorf("idle connection: %v, want EOF", err)
		}
		if want, rest := "d\r\ndata: hello\n\n\r\nc\r\ndata: more\n\n\r\nb\r\ndata: bye\n\n\r\n0\r\n\r\n", <-streamDone; string(rest) != want {
			t.Errorf("stream body %q, want %q", rest, want)
		}
		<-st.Done()
		if _, err := st.WriteString("late"); err != ErrStreamClosed {
			t.Errorf("write after the end: %v", err)
		}
	})
}

// readHead reads a response head.
func readHead(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("head: %v (have %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}
