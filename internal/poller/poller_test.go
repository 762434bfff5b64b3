//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func open(t *testing.T, edge bool) *Poller {
	t.Helper()
	p, err := Open(edge, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	unix.SetNonblock(fds[1], true)
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// events waits once and collects what was reported per descriptor.
func events(t *testing.T, p *Poller, msec int) map[int]Events {
	t.Helper()
	n, err := p.Wait(msec)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]Events{}
	for i := range n {
		fd, ev := p.Event(i)
		got[fd] |= ev
	}
	return got
}

func TestReadableAndWritable(t *testing.T) {
	for _, edge := range []bool{false, true} {
		p := open(t, edge)
		r, w := pipe(t)
		if err := p.Add(r, InterestRead); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(w, InterestWrite); err != nil {
			t.Fatal(err)
		}
		unix.Write(w, []byte("x"))
		got := events(t, p, 1000)
		if got[r]&Readable == 0 || got[w]&Writable == 0 {
			t.Fatalf("edge=%v: events %v", edge, got)
		}
		// Interest can be switched off and back on.
		if err := p.Mod(w, InterestNone); err != nil {
			t.Fatal(err)
		}
		if err := p.Del(r); err != nil {
			t.Fatal(err)
		}
		if got := events(t, p, 0); len(got) != 0 {
			t.Fatalf("edge=%v: events after Mod/Del: %v", edge, got)
		}
	}
}

func TestWaitTimeout(t *testing.T) {
	p := open(t, false)
	start := time.Now()
	if got := events(t, p, 30); len(got) != 0 {
		t.Fatalf("events %v", got)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("returned after %v, before the timeout", d)
	}
}

func TestWakeFromManyGoroutines(t *testing.T) {
	p := open(t, false)
	done := make(chan map[int]Events)
	go func() { done <- events(t, p, -1) }()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := p.Wake(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	select {
	case got := <-done:
		if _, ok := got[WakeFD]; !ok || len(got) != 1 {
			t.Fatalf("events %v, want only a wake-up", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Wake")
	}
	// Wakes that raced with the loop's consumption may leave one more
	// wake-up, never more: after it, waits time out, and a new Wake works.
	events(t, p, 0)
	if got := events(t, p, 10); len(got) != 0 {
		t.Fatalf("stale events %v", got)
	}
	p.Wake()
	if got := events(t, p, 1000); len(got) != 1 {
		t.Fatalf("second wake: %v", got)
	}
}

// runRounds runs p.Run from first and hands every round to round, failing
// the test if the loop does not stop within 5 seconds (a lost wake-up).
func runRounds(t *testing.T, p *Poller, first int, round func(n int) (int, bool)) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Run(first, round) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		p.Wake() // let the goroutine go before the cleanup closes p
		<-done
		t.Fatal("Run did not wake up: an event was lost")
	}
}

// What a round changes before the loop waits must wake the loop: data
// written to a watched pipe, and an interest change to a descriptor that
// is already writable.
func TestRunWakesForWhatARoundChanged(t *testing.T) {
	for _, edge := range []bool{false, true} {
		for _, how := range []string{"data", "interest"} {
			p := open(t, edge)
			r, w := pipe(t)
			if err := p.Add(r, InterestRead); err != nil {
				t.Fatal(err)
			}
			if how == "interest" {
				if err := p.Add(w, InterestNone); err != nil {
					t.Fatal(err)
				}
			}
			rounds := 0
			runRounds(t, p, 0, func(n int) (int, bool) {
				rounds++
				if rounds == 1 {
					if n != 0 {
						t.Errorf("edge=%v %s: first poll found %d events", edge, how, n)
					}
					if how == "data" {
						unix.Write(w, []byte("x"))
					} else if err := p.Mod(w, InterestWrite); err != nil {
						t.Error(err)
					}
					return -1, false
				}
				for i := range n {
					fd, ev := p.Event(i)
					if (how == "data" && fd == r && ev&Readable != 0) || (how == "interest" && fd == w && ev&Writable != 0) {
						return 0, true
					}
				}
				return -1, false
			})
		}
	}
}

// A timeout runs a round with no events, and the loop can park with a
// timeout again after it.
func TestRunTimeoutsRepeat(t *testing.T) {
	p := open(t, false)
	timeouts := 0
	runRounds(t, p, 20, func(n int) (int, bool) {
		if n != 0 {
			t.Errorf("%d events, want none", n)
		}
		timeouts++
		return 20, timeouts == 3
	})
	if timeouts != 3 {
		t.Fatalf("%d timeout rounds, want 3", timeouts)
	}
}
