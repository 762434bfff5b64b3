package http1

import (
	"bufio"
	"context"
	"io"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// TestStreamOnEnd: OnEnd's function runs once, on the connection's loop,
// when the stream is over, whichever way: the writer's Close, the
// client's close, or the drain. Each time Done is closed by then and a
// late OnEnd still runs.
func TestStreamOnEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		type started struct {
			st    *Stream
			ended chan int64 // the run count, sent by each run of OnEnd's f
		}
		opened := make(chan started, 1)
		h := HandlerFunc(func(w *ResponseWriter, r *Request) {
			w.Header("Content-Type", "text/event-stream")
			st := w.Stream()
			s := started{st: st, ended: make(chan int64, 4)}
			var runs atomic.Int64
			st.OnEnd(func() {
				select {
				case <-st.Done():
				default:
					t.Error("OnEnd ran before Done was closed")
				}
				s.ended <- runs.Add(1)
			})
			opened <- s
		})
		srv, addr := startHTTP(t, h, Config{}, eng)
		open := func() (started, *bufio.Reader, func()) {
			c := dial(t, addr)
			c.Write([]byte("GET /events HTTP/1.1\r\nHost: a\r\n\r\n"))
			r := bufio.NewReader(c)
			readHead(t, r)
			return <-opened, r, func() { c.Close() }
		}
		once := func(how string, s started, stopped bool) {
			t.Helper()
			select {
			case n := <-s.ended:
				if n != 1 {
					t.Fatalf("%s: OnEnd ran %d times", how, n)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: OnEnd did not run", how)
			}
			if !stopped {
				late := make(chan struct{})
				s.st.OnEnd(func() { close(late) })
				select {
				case <-late:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: a late OnEnd did not run", how)
				}
			}
			select {
			case n := <-s.ended:
				t.Fatalf("%s: OnEnd ran again (%d)", how, n)
			case <-time.After(20 * time.Millisecond):
			}
		}

		// The writer closes it, from another goroutine.
		s, r, closeConn := open()
		s.st.WriteString("data: 1\n\n")
		go s.st.Close()
		once("Close", s, false)
		if rest, _ := io.ReadAll(httputil.NewChunkedReader(r)); !strings.Contains(string(rest), "data: 1") {
			t.Errorf("Close: body %q", rest)
		}
		closeConn()

		// The client goes away.
		s, _, closeConn = open()
		closeConn()
		// http1 answers a half-closed client, so the stream goes on until a
		// write finds the connection gone.
		for {
			if _, err := s.st.Write([]byte("data: x\n\n")); err == ErrStreamClosed {
				break
			}
			time.Sleep(time.Millisecond)
		}
		once("client close", s, false)

		// The drain.
		s, r, closeConn = open()
		go func() { io.Copy(io.Discard, r); closeConn() }()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		once("drain", s, true) // the loops have stopped: a late OnEnd has nowhere to run
	})
}
