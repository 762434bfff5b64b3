package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/shoalnet/shoal/server"
)

// benchServe runs b.N hello requests over conns keep-alive connections,
// depth requests in flight on each, against h on the loops engine.
func benchServe(b *testing.B, h Handler, conns, depth int) {
	_, addr := startHTTP(b, h, Config{}, server.WithEngine(server.EngineLoops))
	req := bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n"), depth)
	want := []byte("Hello, World!")
	per := b.N/(conns*depth) + 1
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conns {
		c := dial(b, addr)
		wg.Go(func() {
			r := bufio.NewReaderSize(c, 64<<10)
			for range per {
				if _, err := c.Write(req); err != nil {
					b.Error(err)
					return
				}
				for range depth {
					if err := skipResponse(r, want); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// skipResponse reads one hello response: a head ending in a blank line,
// then the 13-byte body.
func skipResponse(r *bufio.Reader, body []byte) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
	}
	got, err := r.Peek(len(body))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, body) {
		return io.ErrUnexpectedEOF
	}
	_, err = r.Discard(len(body))
	return err
}

var benchHello = HandlerFunc(func(w *ResponseWriter, r *Request) {
	w.Header("Content-Type", "text/plain")
	w.WriteString("Hello, World!")
})

func netHTTPHello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "Hello, World!")
}

func BenchmarkNative(b *testing.B) {
	b.Run("p1", func(b *testing.B) { benchServe(b, benchHello, 50, 1) })
	b.Run("p16", func(b *testing.B) { benchServe(b, benchHello, 50, 16) })
}

func BenchmarkAdapter(b *testing.B) {
	h := Adapt(http.HandlerFunc(netHTTPHello), AdapterConfig{})
	b.Run("p1", func(b *testing.B) { benchServe(b, h, 50, 1) })
	b.Run("p16", func(b *testing.B) { benchServe(b, h, 50, 16) })
}
