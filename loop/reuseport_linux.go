package loop

// reusePortBalances says whether the kernel spreads connections over
// SO_REUSEPORT listeners (Linux does; most BSDs only allow the rebinding).
const reusePortBalances = true
