package governor

import (
	"runtime"
	"testing"
)

// TestRuntimeSource reads this process: the runtime's figure is what it
// has mapped, the live heap shows after a collection, and the collection
// count moves.
func TestRuntimeSource(t *testing.T) {
	src := newRuntimeSource(nil)
	var a, b MemorySample
	if err := src.ReadMemory(&a); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if err := src.ReadMemory(&b); err != nil {
		t.Fatal(err)
	}
	if b.Runtime <= 0 || b.Used != b.Runtime || b.LiveHeap <= 0 || b.LiveHeap > b.Runtime || b.GCCycles <= a.GCCycles {
		t.Fatalf("before %+v, after a collection %+v", a, b)
	}
}

// TestRuntimeSourceWithCgroup adds the cgroup's working set where this
// process has a memory cgroup.
func TestRuntimeSourceWithCgroup(t *testing.T) {
	cg, err := findCgroup("/")
	if err != nil {
		t.Skipf("no memory cgroup here: %v", err)
	}
	var s MemorySample
	if err := newRuntimeSource(cg).ReadMemory(&s); err != nil {
		t.Fatal(err)
	}
	if s.Container <= 0 || s.Used != max(s.Runtime, s.Container) {
		t.Fatalf("%+v", s)
	}
	t.Logf("cgroup %s (v2 %v): working set %d, runtime %d", cg.dir, cg.v2, s.Container, s.Runtime)
}

// TestReadMemoryAllocatesNothing: without a cgroup a sample allocates
// nothing; it runs ten
// times a second for the life of the process.
func TestReadMemoryAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	src := newRuntimeSource(nil)
	var s MemorySample
	if n := testing.AllocsPerRun(100, func() { src.ReadMemory(&s) }); n != 0 {
		t.Fatalf("%v allocations per sample", n)
	}
}
