//go:build !race && linux

package pubsub_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/pubsub"
	"github.com/shoalnet/shoal/pubsub/internal/pstest"
)

// TestStoreOnce: a publication delivered to N subscribers allocates what
// it allocates once (the publication, its one frame, the inbox entries),
// not per subscriber: between 200 and 2,000 subscribers, the allocations
// per publication grow by less than one per twenty subscribers (a copy would be one each), and the
// bytes by far less than the payload per subscriber. Subscribers are
// real WebSocket connections on two loops; they do not read during the
// measurement, so the client side allocates nothing.
//
// STOREONCE_PROFILE=DIR writes the allocation profiles before and after
// the rounds (every allocation sampled): go tool pprof -sample_index=
// alloc_space -base DIR/2000-before.pb.gz DIR/2000-after.pb.gz shows
// what the rounds allocated.
func TestStoreOnce(t *testing.T) {
	if os.Getenv("STOREONCE_PROFILE") != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	raiseFiles(t, 5000)
	e := pstest.Engines()[len(pstest.Engines())-1]
	payload := strings.Repeat("x", 128)
	measure := func(subs int) (allocs, bytes float64) {
		n, url := pstest.StartNode(t, e, pubsub.NewMemory(pubsub.MemoryConfig{HistorySize: -1}), pubsub.Config{})
		for range subs {
			p := pstest.Dial(t, url)
			p.Subscribe("sub room")
		}
		const warm, rounds = 5, 20
		round := func(k int) {
			want := n.Stats().Delivered + int64(subs)
			pstest.Publish(t, n, "room", payload)
			for n.Stats().Delivered < want {
				time.Sleep(50 * time.Microsecond)
			}
		}
		for k := range warm {
			round(k)
		}
		// No collection during the rounds: it would empty the pools the
		// outbound queues come from, and the refills would count here
		// as if a publication allocated them.
		runtime.GC()
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		var before, after runtime.MemStats
		profile(t, subs, "before")
		runtime.ReadMemStats(&before)
		for k := range rounds {
			round(k)
		}
		runtime.ReadMemStats(&after)
		profile(t, subs, "after")
		return float64(after.Mallocs-before.Mallocs) / rounds, float64(after.TotalAlloc-before.TotalAlloc) / rounds
	}
	a1, b1 := measure(200)
	a2, b2 := measure(2000)
	perSubAllocs, perSubBytes := (a2-a1)/1800, (b2-b1)/1800
	t.Logf("per publication: %.0f allocs, %.0f B at 200 subscribers; %.0f allocs, %.0f B at 2,000: %.4f allocs and %.2f B per subscriber",
		a1, b1, a2, b2, perSubAllocs, perSubBytes)
	if perSubAllocs > 0.05 || perSubBytes > 16 {
		t.Fatalf("a publication allocates per subscriber: %.4f allocations and %.2f bytes each (payload %d B)", perSubAllocs, perSubBytes, len(payload))
	}
}

// raiseFiles raises the soft limit on open files to at least n, or skips.
func raiseFiles(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("open files limited to %d", lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
}

// profile writes the allocation profile to $STOREONCE_PROFILE, if set.
func profile(t *testing.T, subs int, name string) {
	dir := os.Getenv("STOREONCE_PROFILE")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d-%s.pb.gz", subs, name)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC() // the profile shows the allocations up to the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}
