package governor

import (
	"math"
	"time"
)

// gogcStep is one row of the adaptive GOGC table: GOGC while the live heap
// is below the given share of the memory limit.
type gogcStep struct {
	below float64
	gogc  int
}

// gogcTable is the adaptive GOGC policy. Each GOGC is chosen so that the
// heap goal, live × (1 + GOGC/100), stays at or below 60% of the limit (the
// low mark) at the top of its row: garbage alone never throttles. From 40%
// on, the floor of 25 holds and the runtime's memory limit and the
// watermarks take over.
var gogcTable = []gogcStep{
	{0.10, 400}, // goal ≤ 50%
	{0.15, 300}, // goal ≤ 60%
	{0.20, 200}, // goal ≤ 60%
	{0.30, 100}, // goal ≤ 60%
	{0.40, 50},  // goal ≤ 60%
	{math.Inf(1), 25},
}

const (
	// gogcMargin is how far (as a share of the limit) the live heap must be
	// below a row's top before GOGC steps up to that row.
	gogcMargin = 0.02
	// gogcHold is how long a GOGC is held at least before it steps up.
	gogcHold = 10 * time.Second
)

// gogcPolicy chooses GOGC from the live heap, with hysteresis: GOGC steps
// down at once when the live heap grows into a lower row, and steps up one
// row at a time, only after being held for gogcHold and only when the live
// heap is gogcMargin below the top of the row above. Under pressure
// (Throttle, Shed) it takes the floor. It is owned by the governor's
// goroutine.
type gogcPolicy struct {
	row   int // index into gogcTable; -1 before the first decision
	since time.Time
}

// rowFor returns the table row for a live heap share.
func rowFor(share float64) int {
	for i, s := range gogcTable {
		if share < s.below {
			return i
		}
	}
	return len(gogcTable) - 1
}

// next returns the GOGC for a live heap against limit in state st at now.
func (p *gogcPolicy) next(now time.Time, live, limit int64, st State) int {
	share := float64(live) / float64(limit)
	want := rowFor(share)
	if st != Normal {
		want = len(gogcTable) - 1
	}
	switch {
	case p.row < 0 || want > p.row:
		p.row, p.since = want, now
	case want < p.row && now.Sub(p.since) >= gogcHold && share < gogcTable[p.row-1].below-gogcMargin:
		p.row, p.since = p.row-1, now
	}
	return gogcTable[p.row].gogc
}
