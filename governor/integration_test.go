package governor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// pusher echoes "ping…" and answers "#<n>" with n bytes in 64 KiB writes,
// and records how each connection closed.
type pusher struct {
	opened chan server.Conn
	mu     sync.Mutex
	closed map[server.Conn]error
}

func newPusher() *pusher {
	return &pusher{opened: make(chan server.Conn, 16), closed: make(map[server.Conn]error)}
}

func (p *pusher) OnOpen(c server.Conn) { p.opened <- c }

func (p *pusher) OnData(c server.Conn) {
	b, _ := c.Next(0)
	if len(b) == 0 || b[0] != '#' {
		c.Write(b)
		return
	}
	n, _ := strconv.Atoi(string(b[1:]))
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

func (p *pusher) OnClose(c server.Conn, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed[c] = err
}

func (p *pusher) closeErr(c server.Conn) (error, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	err, ok := p.closed[c]
	return err, ok
}

// TestGovernsRealServer runs the governor over a real server whose memory
// is a baseline the test sets plus the output really queued on the
// server's connections. Two slow consumers, which never read, ask for 5
// and 3 MiB; a healthy connection echoes. Raising the baseline walks the
// governor through Throttle (reads paused: the echo stops) and Shed (the
// larger consumer is closed with server.ErrSlowConsumer, which brings
// memory below the soft mark) and back to Normal (the echo resumes).
func TestGovernsRealServer(t *testing.T) {
	const mib = 1 << 20
	h := newPusher()
	srv, err := server.New(h, server.WithSocketBuffers(16<<10, 16<<10), server.WithWatermarks(16*mib, mib))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	dial := func() (net.Conn, server.Conn) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.(*net.TCPConn).SetReadBuffer(4096)
		t.Cleanup(func() { nc.Close() })
		return nc, <-h.opened
	}
	healthy, _ := dial()
	slowA, connA := dial()
	slowB, connB := dial()
	echo(t, healthy, "hello")

	var base atomic.Int64
	var cycles uint64 // as if a collection ran before every sample
	base.Store(4 * mib)
	src := funcSource(func(s *MemorySample) error {
		cycles++
		s.Used = base.Load() + srv.Stats().OutboundBytes
		s.GCCycles = cycles
		return nil
	})
	g, err := New(srv, WithMemoryLimit(20*mib), WithMemorySource(src), WithInterval(5*time.Millisecond),
		WithMinHold(100*time.Millisecond), WithReclaimInterval(0), WithAdaptiveGOGC(false),
		WithSetMemoryLimit(false), withCgroupRoot(t.TempDir()),
		// The governor's own marks are under test: an engine budget of 8 MiB
		// would hold the 8 MiB of output back before they are reached.
		WithEngineBudget(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	state := func(s State) func() bool { return func() bool { return g.Stats().State == s } }

	// 4 MiB + about 8 MiB queued: 60% of 20 MiB, below soft.
	fmt.Fprintf(slowA, "#%d", 5*mib)
	fmt.Fprintf(slowB, "#%d", 3*mib)
	waitFor(t, func() bool { return srv.Stats().OutboundBytes > 7*mib })
	time.Sleep(50 * time.Millisecond)
	if st := g.Stats(); st.State != Normal {
		t.Fatalf("at %d of %d: %v", st.Memory.Used, st.Limit, st.State)
	}

	// About 72%: Throttle. The healthy connection's data is not read.
	base.Store(6*mib + mib/2)
	waitFor(t, state(Throttle))
	time.Sleep(20 * time.Millisecond) // the loops apply it
	healthy.Write([]byte("during"))
	healthy.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := healthy.Read(make([]byte, 16)); err == nil {
		t.Fatalf("echoed %d bytes while throttled", n)
	}

	// About 87%: Shed. The excess over soft (about 3.4 MiB) is below A's
	// 5 MiB, so A goes and B stays; memory falls to about 62%.
	base.Store(9*mib + mib/2)
	waitFor(t, func() bool { _, ok := h.closeErr(connA); return ok })
	if err, _ := h.closeErr(connA); !errors.Is(err, server.ErrSlowConsumer) {
		t.Fatalf("A closed with %v, want ErrSlowConsumer", err)
	}
	waitFor(t, func() bool { // below soft, above low
		st := g.Stats()
		return st.Entered[Shed] == 1 && st.State == Throttle
	})
	if _, ok := h.closeErr(connB); ok {
		t.Fatal("B was shed too")
	}

	// About 52%: Normal. The echo held back comes, and more.
	base.Store(7 * mib)
	waitFor(t, state(Normal))
	healthy.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 6)
	if _, err := io.ReadFull(healthy, got); err != nil || string(got) != "during" {
		t.Fatalf("after the resume: %q, %v", got, err)
	}
	echo(t, healthy, "after")

	st := g.Stats()
	if st.Transitions != 4 || st.Entered != [NumStates]uint64{1, 2, 1} || st.ShedConns != 1 || st.ShedBytes < 4*mib {
		t.Fatalf("stats %+v", st)
	}
	if n := srv.Stats().ClosedBy[server.ReasonSlowConsumer]; n != 1 {
		t.Fatalf("%d slow-consumer closes", n)
	}
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo %q: %q, %v", msg, got, err)
	}
}
