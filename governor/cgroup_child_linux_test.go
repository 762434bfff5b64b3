package governor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/server"
)

// The child side of TestCgroupMemoryLimit: a Shoal server that floods its
// connections, run inside the memory cgroup, driven over stdin and
// reporting on stdout.

// childReport is what the child prints when asked: its counters and how
// each closed connection closed, by the peer's address.
type childReport struct {
	Governor Stats
	Server   server.Stats
	Closed   map[string]string
}

// runChild runs the server side when the test binary is started as the
// child of TestCgroupMemoryLimit.
func runChild() (int, bool) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return 0, false
	}
	if err := child(mode); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1, true
	}
	return 0, true
}

// flood pushes 1 KiB messages to every open connection, round after round,
// as fast as the readers take them: a round starts once every reader (every
// connection but the silent ones, which the parent names) has been handed
// the message of the round floodWindow rounds before it. The readers set
// the pace, however loaded the machine is, and never fall behind by more
// than the window; the silent connections fall behind without bound, as
// the slow subscribers of a push server do.
type flood struct {
	mu     sync.Mutex
	conns  map[server.Conn]struct{}
	closed map[string]string   // peer address → close reason
	silent map[string]struct{} // peer addresses that never read
	gen    atomic.Uint64       // bumped when conns changes
}

const floodWindow = 16 // rounds in flight

func (f *flood) OnOpen(c server.Conn) {
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
	f.gen.Add(1)
}

func (f *flood) OnData(c server.Conn) { c.Discard(0) }

func (f *flood) OnClose(c server.Conn, err error) {
	f.mu.Lock()
	delete(f.conns, c)
	f.closed[c.RemoteAddr().String()] = server.ReasonOf(err).String()
	f.mu.Unlock()
	f.gen.Add(1)
}

// round counts the readers a round's message has been handed to the kernel
// for (or whose connection closed first).
type round struct {
	readers int
	done    atomic.Int64
}

// target is a connection of the flood and whether it reads.
type target struct {
	c      server.Conn
	reader bool
}

func (f *flood) publish(stop <-chan struct{}) {
	msg := bytes.Repeat([]byte{'m'}, cgroupMessage)
	var list []target
	var seen uint64
	var window [floodWindow]*round
	for r := 0; ; r++ {
		if old := window[r%floodWindow]; old != nil {
			for old.done.Load() < int64(old.readers) {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
		}
		if g := f.gen.Load(); g != seen || list == nil {
			seen = g
			f.mu.Lock()
			list = list[:0]
			for c := range f.conns {
				_, silent := f.silent[c.RemoteAddr().String()]
				list = append(list, target{c, !silent})
			}
			f.mu.Unlock()
		}
		rd := &round{}
		window[r%floodWindow] = rd
		done := func(server.Conn, error) { rd.done.Add(1) }
		if len(list) == 0 {
			time.Sleep(time.Millisecond)
		}
		for _, t := range list {
			var cb func(server.Conn, error)
			if t.reader {
				cb = done
				rd.readers++
			}
			for t.c.AsyncWrite(msg, cb) == server.ErrQueueFull {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Microsecond):
				}
			}
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

func child(mode string) error {
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return errors.New("no go from the parent")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h := &flood{conns: make(map[server.Conn]struct{}), closed: make(map[string]string), silent: make(map[string]struct{})}
	// A fixed send buffer, as a server of many connections sets it: kernel
	// memory per connection stays small (cgroup v1 does not charge it, v2
	// does), and what a silent peer does not take piles up where the
	// governor sees it.
	srv, err := server.New(h, server.WithLogger(log), server.WithSocketBuffers(64<<10, 0))
	if err != nil {
		return err
	}
	var g *Governor
	if mode == "on" {
		if g, err = New(srv, WithLogger(log)); err != nil {
			return err
		}
		if err := g.Start(context.Background()); err != nil {
			return err
		}
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop) // the early returns
	wg.Go(func() { progress(log, srv, g, stop) })
	fmt.Printf("addr %s\n", ln.Addr())
	// The parent names the silent peers once it has connected; then the
	// flood starts.
	if !in.Scan() || !strings.HasPrefix(in.Text(), "flood") {
		return errors.New("no flood from the parent")
	}
	for _, a := range strings.Fields(in.Text())[1:] {
		h.silent[a] = struct{}{}
	}
	wg.Go(func() { h.publish(stop) })
	report := func() {
		rep := childReport{Server: srv.Stats()}
		rep.Server.Loops = nil
		if g != nil {
			rep.Governor = g.Stats()
		}
		h.mu.Lock()
		rep.Closed = maps.Clone(h.closed)
		h.mu.Unlock()
		b, _ := json.Marshal(rep)
		fmt.Printf("report %s\n", b)
	}
	for in.Scan() && in.Text() == "report" {
		report()
	}
	// "stop", or EOF when the parent is gone.
	if g != nil {
		g.Stop()
	}
	report()
	srv.Close()
	return nil // stop closes, the goroutines end
}

// progress logs the child's memory every half second.
func progress(log *slog.Logger, srv *server.Server, g *Governor, stop <-chan struct{}) {
	src := newRuntimeSource(nil)
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		var m MemorySample
		src.ReadMemory(&m)
		st := srv.Stats()
		attrs := []any{"runtime_mib", m.Runtime >> 20, "live_mib", m.LiveHeap >> 20, "outbound_mib", st.OutboundBytes >> 20,
			"conns", st.Conns, "gc", m.GCCycles, "goroutines", runtime.NumGoroutine()}
		if g != nil {
			gs := g.Stats()
			attrs = append(attrs, "state", gs.State.String(), "used_mib", gs.Memory.Used>>20, "gogc", gs.GOGC, "shed", gs.ShedConns)
		}
		log.Info("progress", attrs...)
	}
}
