// Package poller is the readiness notifier under every Shoal event loop:
// epoll on Linux, kqueue on the BSDs and macOS. Both backends share one small
// vocabulary: Open, Add, Mod, Del, Wait (or Run), Event, Wake and Close.
//
// A Poller is owned by one loop goroutine. Only Wake is safe for concurrent use;
// every other method must be called from the goroutine that runs Wait.
package poller

// Events is a bit set of readiness conditions reported for a descriptor.
type Events uint32

// Readiness conditions reported by Event.
const (
	Readable Events = 1 << iota // data, a pending accept, the peer's FIN or an error can be read
	Writable                    // the send buffer has room
	Hangup                      // both directions are shut: nothing more can be sent
	Error                       // an error is pending on the socket
)

// Interest says which conditions a descriptor is registered for.
type Interest uint8

// Interest values for Add and Mod.
const (
	InterestNone  Interest = 0
	InterestRead  Interest = 1
	InterestWrite Interest = 2
	InterestBoth           = InterestRead | InterestWrite
)

// WakeFD is the descriptor number Event reports for a wake-up.
const WakeFD = -1
