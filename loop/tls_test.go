package loop

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/internal/devcert"
)

// tlsEcho echoes, and records the close reasons and how many it opened.
type tlsEcho struct {
	mu     sync.Mutex
	opened int
	closed []error
	done   chan error
}

func (h *tlsEcho) OnOpen(Conn) {
	h.mu.Lock()
	h.opened++
	h.mu.Unlock()
}

func (h *tlsEcho) OnData(c Conn) {
	in, _ := c.Peek(0)
	c.Write(in)
	c.Discard(len(in))
}

func (h *tlsEcho) OnClose(_ Conn, err error) {
	h.mu.Lock()
	h.closed = append(h.closed, err)
	h.mu.Unlock()
	if h.done != nil {
		h.done <- err
	}
}

// testTLS is a server certificate for 127.0.0.1 and a pool that trusts it.
func testTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, ca, err := devcert.Local()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, ca.Pool()
}

// newTLSGroup starts a TLS group for h on engine.
func newTLSGroup(t testing.TB, h Handler, engine Engine, tune func(*Config)) (*Group, string, *x509.CertPool) {
	t.Helper()
	srv, pool := testTLS(t)
	cfg := DefaultConfig()
	cfg.Loops, cfg.Engine, cfg.TimerTick, cfg.TLS = 2, engine, 10*time.Millisecond, srv
	if tune != nil {
		tune(&cfg)
	}
	g, addr := startTestGroup(t, h, cfg)
	return g, addr, pool
}

func dialTLS(t *testing.T, addr string, pool *x509.CertPool, version uint16) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// TestTLSEcho: TLS 1.2 and 1.3 on both engines, with Go's client: small
// messages, a 4 MiB one (records split across reads and many records in
// one), bytes sent right behind the handshake, and the server's close
// with close_notify (the client reads io.EOF, not a truncation).
func TestTLSEcho(t *testing.T) {
	for _, e := range engines() {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			h := &tlsEcho{}
			g, addr, pool := newTLSGroup(t, h, e, nil)
			c := dialTLS(t, addr, pool, v)
			if got := c.ConnectionState().Version; got != v {
				t.Fatalf("version %x, want %x", got, v)
			}
			for _, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 100)} {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo: %q, %v", got, err)
				}
			}
			big := make([]byte, 4<<20)
			rand.Read(big)
			werr := make(chan error, 1)
			go func() { _, err := c.Write(big); werr <- err }()
			got := make([]byte, len(big))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("engine %v, TLS %x: 4 MiB echo: %v, equal %v", e, v, err, bytes.Equal(got, big))
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}

			// The server closes: close_notify, then FIN.
			g.Drain(t.Context())
			if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("engine %v, TLS %x: after the server's close: %d, %v (want io.EOF: close_notify)", e, v, n, err)
			}
			c.Close()
			st := g.Stats()
			if st.TLSHandshakes != 1 || st.TLSHandshakeFailures != 0 {
				t.Errorf("handshakes %d, failures %d", st.TLSHandshakes, st.TLSHandshakeFailures)
			}
		}
	}
}

// TestTLSFirstBytesWithTheHandshake: application data the client writes
// right behind its Finished (in the same read as the handshake's end) is
// served.
func TestTLSClientSpeaksFirst(t *testing.T) {
	for _, e := range engines() {
		_, addr, pool := newTLSGroup(t, &tlsEcho{}, e, nil)
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// Write starts the handshake and sends the data with the client's
		// last flight.
		if _, err := c.Write([]byte("first")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "first" {
			t.Fatalf("%q, %v", got, err)
		}
		// The client's close_notify ends the connection on the server.
		c.Close()
	}
}

// TestTLSClientCloseNotify: the client's close_notify is the end of its
// input: the server closes with io.EOF.
func TestTLSClientCloseNotify(t *testing.T) {
	for _, e := range engines() {
		h := &tlsEcho{done: make(chan error, 1)}
		_, addr, pool := newTLSGroup(t, h, e, nil)
		c := dialTLS(t, addr, pool, 0)
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := <-h.done; err != io.EOF {
			t.Fatalf("engine %v: closed with %v, want io.EOF", e, err)
		}
		c.Close()
	}
}

// TestTLSBadInput: garbage instead of a ClientHello, plain HTTP, and a
// ClientHello that never finishes each close the connection with a typed
// reason, without OnOpen or OnClose, while a good client is served.
func TestTLSBadInput(t *testing.T) {
	for _, e := range engines() {
		h := &tlsEcho{}
		g, addr, pool := newTLSGroup(t, h, e, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
		good := dialTLS(t, addr, pool, 0)
		for _, bad := range [][]byte{
			[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
			{0x16, 0x03, 0x01, 0xff, 0xff},          // a record longer than a ClientHello may be
			{0x16, 0x03, 0x01, 0x00, 0x40, 1, 0, 0}, // a ClientHello that never finishes
			{},                                      // nothing at all
		} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(bad)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
				t.Fatalf("engine %v, %q: read %d bytes, %v; want a close and nothing else", e, bad, n, err)
			}
			c.Close()
		}
		good.Write([]byte("still"))
		got := make([]byte, 5)
		if _, err := io.ReadFull(good, got); err != nil || string(got) != "still" {
			t.Fatalf("good client: %q, %v", got, err)
		}
		good.Close()
		deadline := time.Now().Add(5 * time.Second)
		for g.Stats().TLSHandshakeFailures < 4 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		st := g.Stats()
		h.mu.Lock()
		opened := h.opened
		h.mu.Unlock()
		if st.TLSHandshakes != 1 || st.TLSHandshakeFailures != 4 || opened != 1 {
			t.Errorf("engine %v: %d handshakes, %d failures, %d opened; want 1, 4, 1", e, st.TLSHandshakes, st.TLSHandshakeFailures, opened)
		}
	}
}

// TestTLSHandshakeLimit: with one handshake at a time, many clients at
// once all get through, in turn.
func TestTLSHandshakeLimit(t *testing.T) {
	for _, e := range engines() {
		g, addr, pool := newTLSGroup(t, &tlsEcho{}, e, func(c *Config) { c.MaxHandshakes = 1 })
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				c.Write([]byte("hi"))
				if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("engine %v: %v", e, err)
		}
		if st := g.Stats(); st.TLSHandshakes != 50 {
			t.Errorf("engine %v: %d handshakes, want 50", e, st.TLSHandshakes)
		}
	}
}

// TestTLSHandshakeFailure: a client that trusts another CA fails the
// handshake; the server closes it with a TLSError it never shows the
// handler.
func TestTLSHandshakeFailure(t *testing.T) {
	for _, e := range engines() {
		h := &tlsEcho{}
		g, addr, _ := newTLSGroup(t, h, e, nil)
		_, other := testTLS(t)
		_, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: other})
		var uerr *tls.CertificateVerificationError
		if !errors.As(err, &uerr) {
			t.Fatalf("engine %v: %v, want a certificate verification error", e, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for g.Stats().TLSHandshakeFailures < 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		h.mu.Lock()
		opened := h.opened
		h.mu.Unlock()
		if st := g.Stats(); st.TLSHandshakeFailures != 1 || opened != 0 {
			t.Errorf("engine %v: %d failures, %d opened", e, st.TLSHandshakeFailures, opened)
		}
	}
}

func TestTLSConfigNeedsACertificate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TLS = &tls.Config{}
	if _, err := NewGroup(NopHandler{}, cfg); err == nil {
		t.Fatal("no error for a TLS config without a certificate")
	}
}

// TestTLSPeerCloses: a FIN without close_notify at a record boundary ends
// the input like a plain FIN (io.EOF); a FIN inside a record is
// ErrTLSTruncated; a record that does not authenticate is a TLSError.
func TestTLSPeerCloses(t *testing.T) {
	for _, e := range engines() {
		for _, tc := range []struct {
			name string
			tail []byte // raw bytes written after one whole echo, then FIN
			want func(error) bool
		}{
			{"FIN at a boundary", nil, func(err error) bool { return err == io.EOF }},
			{"FIN inside a record", []byte{0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3}, func(err error) bool { return errors.Is(err, ErrTLSTruncated) }},
			{"forged record", append([]byte{0x17, 0x03, 0x03, 0x00, 0x20}, make([]byte, 0x20)...), func(err error) bool {
				var te *TLSError
				return errors.As(err, &te) && te.Op == "record"
			}},
		} {
			h := &tlsEcho{done: make(chan error, 1)}
			_, addr, pool := newTLSGroup(t, h, e, nil)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("ping"))
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
			raw.Write(tc.tail)
			raw.(*net.TCPConn).CloseWrite()
			select {
			case err := <-h.done:
				if !tc.want(err) {
					t.Errorf("engine %v, %s: closed with %v", e, tc.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("engine %v, %s: not closed", e, tc.name)
			}
			raw.Close()
		}
	}
}

// BenchmarkTLSIdleHeap measures the live heap an idle TLS connection holds
// after its handshake and one exchange: crypto/tls's server side alone
// (over net.Pipe, nothing around it), and a whole connection on the loops.
// The second, less the net.Pipe pair it runs on (the first case), is what
// crypto/tls keeps by itself: the floor under any engine that uses it
// unmodified. b.N connections are opened and kept; run with
// -benchtime=2000x. The clients' tls.Conns are dropped before the measure;
// their sockets (net.Pipe's ends, or the client's TCP socket object) stay
// and are counted. With TLSIDLE_PROFILE=DIR (and -memprofilerate=1) each
// case writes a heap profile of its connections into DIR:
// go tool pprof -sample_index=inuse_space -top DIR/BenchmarkTLSIdleHeap_loops.pb.gz
func BenchmarkTLSIdleHeap(b *testing.B) {
	srv, pool := testTLS(b)
	client := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	ping := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	exchange := func(c *tls.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(ping); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, len(ping)))
		return err
	}
	measure := func(b *testing.B, open func() (any, error)) []any {
		keep := make([]any, 0, b.N)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range b.N {
			k, err := open()
			if err != nil {
				b.Fatal(err)
			}
			keep = append(keep, k)
		}
		b.StopTimer()
		time.Sleep(100 * time.Millisecond) // the server's side settles
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if dir := os.Getenv("TLSIDLE_PROFILE"); dir != "" {
			writeHeapProfile(b, filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pb.gz"))
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "live-B/conn")
		return keep
	}
	b.Run("net-pipe", func(b *testing.B) { // what the next case's sockets cost by themselves
		keep := measure(b, func() (any, error) {
			a, p := net.Pipe()
			return [2]net.Conn{a, p}, nil
		})
		for _, k := range keep {
			k.([2]net.Conn)[0].Close()
		}
	})
	alone := func(b *testing.B, wrap func(net.Conn) net.Conn) {
		keep := measure(b, func() (any, error) {
			a, p := net.Pipe()
			s := tls.Server(wrap(a), srv)
			echoed := make(chan error, 1)
			go func() {
				buf := make([]byte, len(ping))
				_, err := io.ReadFull(s, buf)
				if err == nil {
					_, err = s.Write(buf)
				}
				echoed <- err
			}()
			if err := exchange(tls.Client(p, client)); err != nil {
				return nil, err
			}
			if err := <-echoed; err != nil {
				return nil, err
			}
			s.SetDeadline(time.Time{})
			return [2]any{s, p}, nil
		})
		for _, k := range keep {
			k.([2]any)[1].(net.Conn).Close() // the peer's end first: then close_notify fails at once
			k.([2]any)[0].(*tls.Conn).Close()
		}
	}
	b.Run("crypto-tls-alone", func(b *testing.B) { alone(b, func(c net.Conn) net.Conn { return c }) })
	// crypto/tls fed as the loops feed it (tls_records.go): what it keeps
	// then is what it cannot release.
	b.Run("crypto-tls-fed", func(b *testing.B) { alone(b, func(c net.Conn) net.Conn { return &recordConn{Conn: c} }) })
	b.Run("loops", func(b *testing.B) {
		if !hasPoller {
			b.Skip("no event-loop engine here (the portable one's goroutine stacks are not heap)")
		}
		g, addr, pool := newTLSGroup(b, &tlsEcho{}, EngineLoops, nil)
		client := &tls.Config{RootCAs: pool, ServerName: "localhost"} // SNI, as browsers send it
		keep := measure(b, func() (any, error) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			if err := exchange(tls.Client(raw, client)); err != nil {
				raw.Close()
				return nil, err
			}
			raw.SetDeadline(time.Time{})
			return raw, nil
		})
		g.Stop() // now, not at the end: a next run must not see this one's memory freed
		for _, k := range keep {
			k.(net.Conn).Close()
		}
	})
}

// recordConn hands crypto/tls its input as a tlsConn does: the ClientHello
// cut by splitHello, and never more than the record the input is in.
type recordConn struct {
	net.Conn
	rec     records
	started bool
	pending []byte // the first record, cut
}

func (c *recordConn) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		hdr := make([]byte, recordHeader)
		if _, err := io.ReadFull(c.Conn, hdr); err != nil {
			return 0, err
		}
		size := int(hdr[3])<<8 | int(hdr[4])
		first := append(hdr, make([]byte, size)...)
		if _, err := io.ReadFull(c.Conn, first[recordHeader:]); err != nil {
			return 0, err
		}
		c.pending = splitHello(first, size)
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending[:c.rec.span(c.pending[:min(len(p), len(c.pending))])])
		if c.pending = c.pending[n:]; len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	limit := int(c.rec.left)
	if limit == 0 {
		limit = recordHeader - int(c.rec.nh)
	}
	n, err := c.Conn.Read(p[:min(len(p), limit)])
	c.rec.span(p[:n])
	return n, err
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// TestTLSHandshakeInputCounted: ciphertext waiting for its handshake
// counts in the input the budget sees (Stats.InboundBytes), and stops
// counting when the handshake ends, either way.
func TestTLSHandshakeInputCounted(t *testing.T) {
	for _, e := range engines() {
		g, addr, pool := newTLSGroup(t, &tlsEcho{}, e, nil)
		waitInbound := func(what string, ok func(int64) bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for !ok(g.Stats().InboundBytes) {
				if time.Now().After(deadline) {
					t.Fatalf("engine %v, %s: %d inbound bytes", e, what, g.Stats().InboundBytes)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// A ClientHello record of 12 KiB of which 8 KiB came: held, counted.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(append([]byte{0x16, 0x03, 0x01, 0x30, 0x00}, make([]byte, 8<<10)...))
		waitInbound("partial ClientHello", func(n int64) bool { return n >= 8<<10 })
		c.Close()
		waitInbound("after its close", func(n int64) bool { return n == 0 })
		// A good client, idle after one exchange: nothing held.
		good := dialTLS(t, addr, pool, 0)
		good.Write([]byte("ping"))
		if _, err := io.ReadFull(good, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		waitInbound("established, idle", func(n int64) bool { return n == 0 })
		good.Close()
	}
}
