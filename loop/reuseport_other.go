//go:build !linux

package loop

// reusePortBalances says whether the kernel spreads connections over
// SO_REUSEPORT listeners: not on this platform.
const reusePortBalances = false
