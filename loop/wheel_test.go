package loop

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWheelFiresOnItsTick drives a wheel tick by tick: every timer fires on
// exactly the tick it is due, whatever its distance (several turns
// included), and cancelled timers never fire.
func TestWheelFiresOnItsTick(t *testing.T) {
	w := newWheel(time.Millisecond)
	r := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	timers := make([]timer, n)
	due := make([]int64, n)
	fired := make([]int64, n)
	for i := range timers {
		due[i] = 1 + r.Int64N(3*wheelSlots)
		timers[i].fn = func() { fired[i] = w.now }
		w.schedule(&timers[i], due[i])
	}
	for i := 0; i < n; i += 7 {
		w.cancel(&timers[i])
	}
	for tick := int64(1); tick <= 3*wheelSlots+1; tick++ {
		w.advance(tick)
	}
	for i := range timers {
		switch {
		case i%7 == 0 && fired[i] != 0:
			t.Fatalf("cancelled timer %d fired", i)
		case i%7 != 0 && fired[i] != due[i]:
			t.Fatalf("timer %d due at tick %d fired at %d", i, due[i], fired[i])
		}
	}
	if w.n != 0 {
		t.Fatalf("%d timers left armed", w.n)
	}
}

// TestWheelCatchesUp jumps over many ticks at once, as a loop does after a
// long wait: everything due fires, nothing early.
func TestWheelCatchesUp(t *testing.T) {
	w := newWheel(time.Millisecond)
	var early, late timer
	var firedEarly, firedLate bool
	early.fn = func() { firedEarly = true }
	late.fn = func() { firedLate = true }
	w.schedule(&early, 10)
	w.schedule(&late, 5000)
	w.advance(4000)
	if !firedEarly || firedLate {
		t.Fatalf("after jumping to 4000: early %v late %v", firedEarly, firedLate)
	}
	w.advance(5000)
	if !firedLate {
		t.Fatal("late timer did not fire at its tick")
	}
}

func TestWheelRescheduleFromCallback(t *testing.T) {
	w := newWheel(time.Millisecond)
	var tm timer
	count := 0
	tm.fn = func() {
		if count++; count < 3 {
			w.schedule(&tm, w.now+2)
		}
	}
	w.schedule(&tm, 2)
	for tick := int64(1); tick <= 20; tick++ {
		w.advance(tick)
	}
	if count != 3 {
		t.Fatalf("fired %d times, want 3", count)
	}
}

func TestDeadlinesCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       deadlines
		now     int64
		pending bool
		linger  bool
		err     error
		next    int64
	}{
		{"none", deadlines{}, 5, false, false, nil, 0},
		{"idle not yet", deadlines{idle: 10, lastActive: 3}, 12, false, false, nil, 13},
		{"idle due", deadlines{idle: 10, lastActive: 3}, 13, false, false, ErrIdleTimeout, 0},
		{"read due", deadlines{read: 7}, 7, false, false, ErrReadTimeout, 0},
		{"write due with output", deadlines{write: 7}, 8, true, false, ErrWriteTimeout, 0},
		{"write passed without output", deadlines{write: 7}, 8, false, false, nil, 0},
		{"close before read", deadlines{read: 4, close: 4}, 4, false, false, ErrCloseTimeout, 0},
		{"linger done", deadlines{close: 4}, 4, false, true, errLingerDone, 0},
		{"earliest next", deadlines{read: 20, write: 15, idle: 100, lastActive: 0}, 1, true, false, nil, 15},
	} {
		err, next := tc.d.check(tc.now, tc.pending, tc.linger)
		if err != tc.err || next != tc.next {
			t.Errorf("%s: got (%v, %d), want (%v, %d)", tc.name, err, next, tc.err, tc.next)
		}
	}
}
