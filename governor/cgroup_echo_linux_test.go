package governor

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The echo flood: examples/echo with its defaults runs in a 192 MiB memory
// cgroup; silent peers write 64 KiB as fast as they can and never read
// their echo, ten echoing peers make 1 KiB round trips. The engine's
// memory budget (which the governor sets from the limit) must keep the
// server alive and the echoing peers served; without the governor (and so
// without a budget) the server is OOM-killed on a quiet machine.
const (
	echoCgroupLimit = 192 << 20
	echoFastPeers   = 10
	echoFloodWrite  = 64 << 10
	echoRunEnv      = "SHOAL_ECHO_CGROUP_RUNS" // runs per case (default 1)
)

type echoCgroupResult struct {
	peak, oomKills int64
	alive          bool          // the server was still running at the end
	fastErrors     int           // echoing peers that failed
	unloaded       float64       // round trips per second before the flood
	loaded         float64       // round trips per second during the flood
	silentClosed   int           // silent peers the server closed
	ran            time.Duration // of the flood
}

// TestCgroupEchoFlood runs the flood with 200 and with 2,000 silent peers
// under the budget, and once without the governor, reported, to show what
// the budget prevents: on a quiet machine that run ends in an OOM kill.
func TestCgroupEchoFlood(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("runs for about a minute")
	case raceEnabled:
		t.Skip("the race detector's shadow memory is not what a deployment uses")
	}
	runs := 1
	if v, err := strconv.Atoi(os.Getenv(echoRunEnv)); err == nil && v > 0 {
		runs = v
	}
	bin := buildExample(t, "echo")
	for _, tc := range []struct {
		name     string
		silent   int
		governor bool
		seconds  int
	}{
		{"budget/200 silent", 200, true, 12},
		{"budget/2000 silent", 2000, true, 12},
		{"no governor/200 silent", 200, false, 12},
	} {
		for run := range runs {
			t.Run(fmt.Sprintf("%s/run %d", tc.name, run+1), func(t *testing.T) {
				r := runEchoFlood(t, bin, tc.silent, tc.governor, time.Duration(tc.seconds)*time.Second)
				t.Logf("peak %.1f MiB of %d MiB, OOM kills %d, alive %v; echo %.0f/s unloaded, %.0f/s under the flood (%.0f%%), %d echo errors; %d of %d silent peers closed",
					float64(r.peak)/(1<<20), echoCgroupLimit>>20, r.oomKills, r.alive, r.unloaded, r.loaded,
					100*r.loaded/max(r.unloaded, 1), r.fastErrors, r.silentClosed, tc.silent)
				if !tc.governor {
					// Reported, not asserted: whether the unbudgeted server dies
					// depends on how fast this machine floods it (on a quiet one,
					// OOM-killed in 5 of 5 runs; in CI, with other packages'
					// tests beside it, it once survived at 178 MiB).
					if r.oomKills == 0 && r.alive {
						t.Logf("without the budget the server survived this run (peak %.1f MiB)", float64(r.peak)/(1<<20))
					}
					return
				}
				switch {
				case r.oomKills > 0 || !r.alive:
					t.Fatalf("the server died (OOM kills %d)", r.oomKills)
				case r.peak > echoCgroupLimit*9/10:
					t.Fatalf("peak %d bytes, more than 90%% of the limit", r.peak)
				case r.fastErrors > 0:
					t.Fatalf("%d echoing peers failed", r.fastErrors)
				case r.loaded == 0:
					// The rate under the flood against the rate before is
					// reported above, not asserted: it depends on what else
					// the machine runs (35% once in CI, beside other tests).
					t.Fatal("no echo under the flood")
				case r.silentClosed < tc.silent/2:
					t.Fatalf("only %d of %d silent peers closed as slow consumers", r.silentClosed, tc.silent)
				}
			})
		}
	}
}

// buildExample builds examples/<name> and returns the binary.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		skipOrFail(t, "cannot find the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

func runEchoFlood(t *testing.T, bin string, silent int, governor bool, run time.Duration) *echoCgroupResult {
	mode := map[bool]string{true: "on", false: "off"}[governor]
	cg := newTestCgroup(t, fmt.Sprintf("shoal-echo-flood-%d-%s-%d", os.Getpid(), mode, silent), echoCgroupLimit)
	p := startInCgroup(t, cg, bin, "-addr", "127.0.0.1:0", "-admin", "", "-governor="+strconv.FormatBool(governor))
	exited := p.exited
	var addr string
	for addr == "" {
		select {
		case a := <-p.addrs:
			if a[0] == "echo server listening" {
				addr = a[1]
			}
		case <-exited:
			t.Fatalf("server exited: %v\n%s", p.waitErr, p.logs.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("no address from the server:\n%s", p.logs.String())
		}
	}

	r := &echoCgroupResult{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer func() { stop.Store(true); wg.Wait() }()
	var trips atomic.Int64
	var fastFailed atomic.Int32
	for i := range echoFastPeers {
		c := dialFrom(t, addr, i)
		wg.Go(func() {
			defer c.Close()
			msg := bytes.Repeat([]byte{'e'}, 1024)
			got := make([]byte, len(msg))
			for !stop.Load() {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(msg); err != nil {
					fastFailed.Add(1)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					fastFailed.Add(1)
					return
				}
				trips.Add(1)
			}
		})
	}
	rate := func(d time.Duration) float64 {
		n0, t0 := trips.Load(), time.Now()
		time.Sleep(d)
		return float64(trips.Load()-n0) / time.Since(t0).Seconds()
	}
	r.unloaded = rate(2 * time.Second)

	var closed atomic.Int32
	flood := bytes.Repeat([]byte{'f'}, echoFloodWrite)
	for i := range silent {
		c := dialFrom(t, addr, echoFastPeers+i)
		c.(*net.TCPConn).SetReadBuffer(4096)
		wg.Go(func() {
			defer c.Close()
			for !stop.Load() {
				c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Write(flood); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue // held back by the server: TCP pushes back
					}
					closed.Add(1) // the server closed it (reset or broken pipe)
					return
				}
			}
		})
	}
	began := time.Now()
	time.Sleep(2 * time.Second) // the flood builds up
	r.loaded = rate(run - 2*time.Second)
	r.ran = time.Since(began)
	r.fastErrors = int(fastFailed.Load())
	r.silentClosed = int(closed.Load())
	select {
	case <-exited:
	default:
		r.alive = true
	}
	r.peak = cg.peak()
	_, r.oomKills = cg.events()
	return r
}

// dialFrom dials addr from 127.0.0.(1+i%8), so that thousands of
// connections do not run out of ports.
func dialFrom(t *testing.T, addr string, i int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
