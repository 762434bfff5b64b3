//go:build !windows && !plan9 && !js && !wasip1

package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// handoffDialers dial, echo a few bytes and hang up as fast as they can
// until stop, and count what failed: a refused or reset dial, or an echo
// that did not come back.
type handoffDialers struct {
	addr     string
	stop     chan struct{}
	wg       sync.WaitGroup
	ok       atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	firstErr error
}

func startDialers(addr string, n int) *handoffDialers {
	d := &handoffDialers{addr: addr, stop: make(chan struct{})}
	deadline := time.Now().Add(20 * time.Second) // bounded even if the test stalls
	for range n {
		d.wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-d.stop:
					return
				default:
				}
				if err := d.once(); err != nil {
					d.failed.Add(1)
					d.mu.Lock()
					if d.firstErr == nil {
						d.firstErr = err
					}
					d.mu.Unlock()
					continue
				}
				d.ok.Add(1)
			}
		})
	}
	return d
}

func (d *handoffDialers) once() error {
	c, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// waitOK waits until n more dials than now have succeeded.
func (d *handoffDialers) waitOK(t *testing.T, n int64) {
	t.Helper()
	want := d.ok.Load() + n
	for end := time.Now().Add(10 * time.Second); d.ok.Load() < want; {
		if time.Now().After(end) {
			t.Fatalf("%d dials succeeded, want %d (%d failed: %v)", d.ok.Load(), want, d.failed.Load(), d.firstErr)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHandoffRefusesNothing hands a serving server's listeners to a second
// server, as a restarted process gets them, and drains the first while
// clients dial as fast as they can: no dial is refused or reset, every
// echo comes back, and the second server (with more loops than the first
// had sockets) serves from then on.
func TestHandoffRefusesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		old, err := New(echoHandler{}, eng, WithLoops(2))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if err := old.Start(ln); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { old.Close() })
		const dialers = 4
		d := startDialers(addr, dialers)
		t.Cleanup(func() { close(d.stop); d.wg.Wait() })
		d.waitOK(t, 200)

		files, err := old.ListenerFiles()
		if err != nil {
			t.Fatal(err)
		}
		var lns []net.Listener
		for _, f := range files {
			l, err := net.FileListener(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			lns = append(lns, l)
		}
		neu, err := New(echoHandler{}, eng, WithLoops(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := neu.Start(lns[0], lns[1:]...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { neu.Close() })
		d.waitOK(t, 200) // both serve

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := old.Shutdown(ctx); err != nil {
			t.Fatalf("old Shutdown: %v", err)
		}
		before := neu.Stats().Accepted
		d.waitOK(t, 200) // the new one alone
		// All but those already in flight when the old one was gone.
		if n := neu.Stats().Accepted - before; n < 200-dialers {
			t.Fatalf("the new server accepted %d of the last 200 dials", n)
		}
		if n := d.failed.Load(); n > 0 {
			t.Fatalf("%d of %d dials failed through the handoff, first: %v", n, n+d.ok.Load(), d.firstErr)
		}
		if _, err := old.ListenerFiles(); err == nil {
			t.Error("ListenerFiles after Shutdown: no error")
		}
	})
}

// TestListenerFilesBeforeServe: a server that serves nothing has no
// listener to hand over.
func TestListenerFilesBeforeServe(t *testing.T) {
	s, err := New(echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fs, err := s.ListenerFiles(); err == nil {
		for _, f := range fs {
			f.Close()
		}
		t.Fatal("no error")
	}
}
