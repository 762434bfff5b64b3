// Package governor keeps a Shoal server alive when memory runs short in a
// container: instead of growing until the kernel kills the process, the
// server stops reading, then closes the slow consumers that hold the most
// output.
//
// # Limits from the container
//
// The governor works against a memory limit, taken in this order from
// WithMemoryLimit, the GOMEMLIMIT environment variable (as the runtime
// parsed it), or the process's memory cgroup: memory.max on cgroup v2 (the
// smallest up the hierarchy), memory.limit_in_bytes on cgroup v1 (or the
// smaller hierarchical_memory_limit), found through /proc/self/cgroup and
// /proc/self/mountinfo and re-read every 10s. Start sets the runtime's
// memory limit (debug.SetMemoryLimit) to 90% of it, unless GOMEMLIMIT is
// set. GOMAXPROCS is the runtime's own: Go derives it from the CPU quota and
// keeps it current; the governor only reports it.
//
// # Watermarks
//
// Every 100ms — every 20ms while memory is at or above the low mark,
// climbing by 2% of the limit or more per sample, or the state is not
// Normal — the governor samples the memory in use: what the Go runtime
// has mapped and not returned to the kernel (/memory/classes/total:bytes
// minus /memory/classes/heap/released:bytes, the quantity the runtime's
// memory limit counts: heap, free spans not yet released, stacks, runtime
// metadata), or, when larger, the cgroup's working set (usage minus
// inactive file pages, as the kubelet counts it), which also holds kernel
// socket buffers and the container's other processes. Both are cheap
// reads; runtime.ReadMemStats, which stops the world, is not used. Against
// the limit:
//
//	state     entered when used is           left when used is            the server
//	Normal    below low (60%), held 1s       at or above soft             accepts and reads
//	Throttle  at or above soft (70%)         below low (held 1s): Normal  accepts and reads nothing;
//	                                         at or above hard: Shed       writes go on, queues drain;
//	                                                                      stalled consumers are closed
//	Shed      at or above hard (85%)         below soft (held 1s):        throttled, and the connections
//	                                         Throttle, or Normal below    with the most output queued are
//	                                         low                          closed as slow consumers
//
// Stepping up is immediate. Stepping down needs a lower mark than the one
// passed on the way up and the state to have been held for WithMinHold, so
// a sample wandering around a mark changes the state once. In Shed, each
// sample still at or above soft starts a round of shedding whose target is
// the excess over soft, at least one byte (so at least the largest queue),
// at most half of all queued output (so one round does not reach the
// connections with small queues unless the large ones are a minority).
// While not Normal, the governor also closes stalled consumers: those with
// at least 64 KiB of output queued that have not taken
// a byte for WithStalledShedding (2s). With reading paused everywhere the
// healthy consumers' queues drain within moments; a queue that does not
// move belongs to a peer that takes nothing, and without closing it memory
// would never fall back below the low mark, leaving every publisher
// paused. Bytes shed count as gone until two collections have run, so the next
// sample does not shed the same excess again; while not Normal, the
// governor forces those collections (and returns free memory to the
// kernel) at most once per WithReclaimInterval when none ran by itself.
//
// # Adaptive GOGC
//
// GOGC follows the live heap's share of the limit, so that a small heap is
// collected rarely (less CPU) and the heap goal, live × (1 + GOGC/100),
// stays below the low mark (garbage alone never throttles):
//
//	live heap / limit          GOGC   heap goal at the top of the row
//	below 10%                  400    50%
//	10% to 15%                 300    60%
//	15% to 20%                 200    60%
//	20% to 30%                 100    60%
//	30% to 40%                  50    60%
//	40% and above               25    the memory limit and watermarks govern
//	Throttle or Shed            25
//
// It never goes below 25 nor above 400. It drops as soon as the live heap
// grows into a lower row; it rises one row at a time, after 10s in the
// current row and with the live heap 2 points of the limit below the top
// of the row above, so it does not thrash. It stays off when GOGC is set in
// the environment.
//
// # Use
//
//	srv, _ := server.New(h)
//	g, err := governor.New(srv, governor.WithLogger(logger))
//	if err != nil { ... }
//	g.Start(ctx)
//	defer g.Stop()
//	registry.MustRegister(governor.NewCollector(g))
//
// A process should run one governor: GOGC and the memory limit are
// process-wide. Stop resumes the server and restores both.
package governor
