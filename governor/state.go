package governor

import "time"

// State is the governor's reaction to memory pressure.
type State int32

// The states, from no pressure to the most.
const (
	// Normal: memory is below the soft mark (or, coming down, below the
	// low mark). The server accepts and reads.
	Normal State = iota
	// Throttle: memory passed the soft mark. The server accepts and reads
	// nothing, so TCP pushes back on every sender; it keeps writing, so
	// its queues drain.
	Throttle
	// Shed: memory passed the hard mark. The server stays throttled and
	// the governor closes the connections holding the most output.
	Shed
	numStates
)

var stateNames = [numStates]string{"normal", "throttle", "shed"}

func (s State) String() string {
	if s < 0 || s >= numStates {
		return "unknown"
	}
	return stateNames[s]
}

// machine is the watermark state machine. Stepping up is immediate: a
// sample at or above the soft mark throttles, one at or above the hard mark
// sheds. Stepping down needs the sample below a lower mark than the one
// that was passed on the way up (Shed holds until below soft, Throttle
// until below low) and the state to have been held for hold. A sample
// oscillating around any mark therefore changes the state at most once.
// It is owned by the governor's goroutine.
type machine struct {
	low, soft, hard float64 // shares of the limit
	hold            time.Duration
	state           State
	since           time.Time // when state was entered
}

// next returns the state for a sample of used bytes against limit taken at
// now, and moves the machine there.
func (m *machine) next(now time.Time, used, limit int64) State {
	share := float64(used) / float64(limit)
	to := m.state
	switch {
	case share >= m.hard:
		to = Shed
	case share >= m.soft && m.state == Normal:
		to = Throttle
	case now.Sub(m.since) < m.hold:
		// Hold the state before stepping down.
	case share < m.low:
		to = Normal
	case share < m.soft && m.state == Shed:
		to = Throttle
	}
	if to != m.state {
		m.state, m.since = to, now
	}
	return to
}
