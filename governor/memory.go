package governor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// MemorySample is one reading of the memory in use.
type MemorySample struct {
	// Used is what the governor compares with the memory limit: the larger
	// of Runtime and Container.
	Used int64
	// Runtime is the memory the Go runtime has mapped and not returned to
	// the kernel (/memory/classes/total:bytes minus
	// /memory/classes/heap/released:bytes): the quantity the runtime's own
	// memory limit counts.
	Runtime int64
	// Container is the cgroup's working set (memory.current or
	// memory.usage_in_bytes, minus inactive file pages, as the kubelet
	// counts it); 0 when there is no cgroup. It includes what the runtime
	// does not see: kernel socket buffers, other processes of the container.
	Container int64
	// LiveHeap is the heap the last garbage collection found live
	// (/gc/heap/live:bytes); the adaptive GOGC follows it.
	LiveHeap int64
	// GCCycles counts completed garbage collections
	// (/gc/cycles/total:gc-cycles).
	GCCycles uint64
}

// MemorySource reads the memory in use. The governor calls ReadMemory from
// its own goroutine only, once per interval; it must be cheap.
type MemorySource interface {
	// ReadMemory fills s; Used must be set.
	ReadMemory(s *MemorySample) error
}

// Indexes into runtimeSource.samples.
const (
	mTotal = iota
	mReleased
	mLive
	mCycles
	numRuntimeMetrics
)

// runtimeSource reads runtime/metrics (a few atomic loads, no stop-the-
// world, unlike runtime.ReadMemStats) and, when there is one, the memory
// cgroup's working set.
type runtimeSource struct {
	samples [numRuntimeMetrics]metrics.Sample
	cg      *cgroup // nil: no cgroup
}

func newRuntimeSource(cg *cgroup) *runtimeSource {
	s := &runtimeSource{cg: cg}
	s.samples[mTotal].Name = "/memory/classes/total:bytes"
	s.samples[mReleased].Name = "/memory/classes/heap/released:bytes"
	s.samples[mLive].Name = "/gc/heap/live:bytes"
	s.samples[mCycles].Name = "/gc/cycles/total:gc-cycles"
	return s
}

// ReadMemory implements MemorySource.
func (s *runtimeSource) ReadMemory(m *MemorySample) error {
	metrics.Read(s.samples[:])
	*m = MemorySample{
		Runtime:  int64(s.samples[mTotal].Value.Uint64() - s.samples[mReleased].Value.Uint64()),
		LiveHeap: int64(s.samples[mLive].Value.Uint64()),
		GCCycles: s.samples[mCycles].Value.Uint64(),
	}
	var err error
	if s.cg != nil {
		m.Container, err = s.cg.workingSet()
	}
	m.Used = max(m.Runtime, m.Container)
	return err
}

// runtimeSettings reads the settings the governor reports: GOGC and the
// runtime's memory limit.
type runtimeSettings struct {
	samples [2]metrics.Sample
}

func newRuntimeSettings() *runtimeSettings {
	r := &runtimeSettings{}
	r.samples[0].Name = "/gc/gogc:percent"
	r.samples[1].Name = "/gc/gomemlimit:bytes"
	return r
}

func (r *runtimeSettings) read() (gogc int, memLimit int64) {
	metrics.Read(r.samples[:])
	return int(r.samples[0].Value.Uint64()), int64(r.samples[1].Value.Uint64())
}

// reclaim makes memory that queues let go of show up as free to the kernel:
// two collections, because pooled buffers (sync.Pool) survive the first in
// the pool's victim cache, and the second one returns free pages to the
// kernel.
func reclaim() {
	runtime.GC()
	debug.FreeOSMemory()
}
