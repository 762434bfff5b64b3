package governor

import (
	"testing"
	"time"
)

// TestGOGCTable: a fresh policy picks the row of the live heap's share of
// the limit, and the floor under pressure.
func TestGOGCTable(t *testing.T) {
	for _, tc := range []struct {
		share float64
		state State
		want  int
	}{
		{0, Normal, 400}, {0.05, Normal, 400}, {0.0999, Normal, 400},
		{0.10, Normal, 300}, {0.149, Normal, 300},
		{0.15, Normal, 200}, {0.199, Normal, 200},
		{0.20, Normal, 100}, {0.299, Normal, 100},
		{0.30, Normal, 50}, {0.399, Normal, 50},
		{0.40, Normal, 25}, {0.90, Normal, 25}, {1.5, Normal, 25},
		{0.01, Throttle, 25}, {0.01, Shed, 25},
	} {
		p := gogcPolicy{row: -1}
		if got := p.next(at(0), int64(tc.share*1000), 1000, tc.state); got != tc.want {
			t.Errorf("live %.3f of the limit in %v: GOGC %d, want %d", tc.share, tc.state, got, tc.want)
		}
	}
}

// TestGOGCHeapGoalBelowLowMark checks the table's invariant: at the top of
// each row, the heap goal live × (1 + GOGC/100) is at most 60% of the
// limit, so that garbage alone never reaches the watermarks.
func TestGOGCHeapGoalBelowLowMark(t *testing.T) {
	for _, s := range gogcTable[:len(gogcTable)-1] {
		if goal := s.below * (1 + float64(s.gogc)/100); goal > 0.60+1e-9 {
			t.Errorf("GOGC %d below %.2f: heap goal %.2f of the limit", s.gogc, s.below, goal)
		}
	}
	if first, last := gogcTable[0].gogc, gogcTable[len(gogcTable)-1].gogc; first != 400 || last != 25 {
		t.Errorf("bounds %d..%d, want 400..25", first, last)
	}
}

// TestGOGCHysteresis: GOGC drops at once when the live heap grows, rises
// one row at a time, only after gogcHold and only with a margin below the
// row's top, so that a live heap wandering around a boundary does not make
// it thrash.
func TestGOGCHysteresis(t *testing.T) {
	hold := int(gogcHold / time.Millisecond)
	steps := []struct {
		ms    int
		share float64
		state State
		want  int
	}{
		{0, 0.05, Normal, 400},
		{100, 0.11, Normal, 300},          // grew into the next row: down at once
		{200, 0.095, Normal, 300},         // back below 10%, but not by the margin
		{hold + 200, 0.095, Normal, 300},  // held long enough, still within the margin
		{hold + 300, 0.07, Normal, 400},   // 3 points below: up
		{hold + 400, 0.11, Normal, 300},   // and down again at once
		{hold + 500, 0.01, Throttle, 25},  // pressure: the floor
		{hold + 600, 0.01, Normal, 25},    // pressure over: held
		{2*hold + 600, 0.01, Normal, 50},  // then one row at a time
		{2*hold + 700, 0.01, Normal, 50},  // not faster than gogcHold
		{3*hold + 600, 0.01, Normal, 100}, // ...
		{4*hold + 600, 0.01, Normal, 200},
		{5*hold + 600, 0.01, Normal, 300},
		{6*hold + 600, 0.01, Normal, 400},
		{7*hold + 600, 0.01, Normal, 400}, // the ceiling
	}
	p := gogcPolicy{row: -1}
	for _, s := range steps {
		if got := p.next(at(s.ms), int64(s.share*1000), 1000, s.state); got != s.want {
			t.Errorf("at %dms, live %.3f, %v: GOGC %d, want %d", s.ms, s.share, s.state, got, s.want)
		}
	}
}

// TestGOGCNoThrashing: a live heap oscillating around a row boundary every
// sample for a minute changes GOGC at most once per gogcHold.
func TestGOGCNoThrashing(t *testing.T) {
	p := gogcPolicy{row: -1}
	changes, last := 0, p.next(at(0), 98, 1000, Normal)
	for i := range 600 {
		share := 0.098
		if i%2 == 1 {
			share = 0.102
		}
		if v := p.next(at(100*i), int64(share*1000), 1000, Normal); v != last {
			changes, last = changes+1, v
		}
	}
	if changes > 1 { // from 400 to 300 for good
		t.Fatalf("GOGC changed %d times in a minute", changes)
	}
}
