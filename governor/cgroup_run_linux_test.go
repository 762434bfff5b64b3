package governor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// The cgroup run: a child process (this test binary again) runs a Shoal
// server inside a memory cgroup with a 256 MiB limit and floods every
// connection with 1 KiB messages; this process holds 2,000 connections, of
// which 100 never read.
const (
	cgroupLimit   = 256 << 20
	cgroupConns   = 2000
	cgroupSilent  = 100
	cgroupMessage = 1 << 10
	childEnv      = "SHOAL_GOVERNOR_CGROUP_CHILD" // "on" or "off": the governor
	runSecondsEnv = "SHOAL_GOVERNOR_CGROUP_SECONDS"
)

// cgroupResult is what one run found.
type cgroupResult struct {
	peak, failcnt, oomKills int64
	exit                    string
	ran                     time.Duration // until the end of the run or the child's death
	// Silent connections closed as slow consumers at the end of the run,
	// and after the grace period (how long it took, at most 30s).
	silentAtEnd, silentClosed int
	grace                     time.Duration
	fastClosed                int // fast connections the server closed
	fastStalled               int // fast connections without data in the last 2s of the run
	child                     childReport
}

// TestCgroupMemoryLimit runs the flood twice under a real 256 MiB limit:
// with the governor, the child must stay below the limit, never be
// OOM-killed, shed the silent connections with the slow-consumer reason and
// keep serving the others; without it, the test reports what happens.
// It skips where it cannot create a memory cgroup (not root, no cgroup
// filesystem) and fails there when CI is set.
func TestCgroupMemoryLimit(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("runs for about a minute")
	case raceEnabled:
		t.Skip("the race detector's shadow memory is not what a deployment uses")
	}
	secs := 20
	if v, err := strconv.Atoi(os.Getenv(runSecondsEnv)); err == nil && v > 0 {
		secs = v
	}
	run := time.Duration(secs) * time.Second
	results := map[string]*cgroupResult{}
	for _, mode := range []string{"on", "off"} {
		t.Run("governor "+mode, func(t *testing.T) {
			r := runInCgroup(t, mode, run)
			results[mode] = r
			t.Logf("governor %s: peak %.1f MiB of %d MiB, failcnt %d, OOM kills %d, child %s after %v",
				mode, float64(r.peak)/(1<<20), cgroupLimit>>20, r.failcnt, r.oomKills, r.exit,
				(r.ran + r.grace).Round(100*time.Millisecond))
			g := r.child.Governor
			if r.ran < run {
				t.Logf("the child died %v into the run", r.ran.Round(100*time.Millisecond))
			} else {
				t.Logf("silent connections closed as slow consumers: %d of %d at %v, %d after %v more; "+
					"the governor shed %d, their watermark closed %d; fast connections closed %d, stalled %d",
					r.silentAtEnd, cgroupSilent, run, r.silentClosed, r.grace.Round(100*time.Millisecond),
					g.ShedConns, r.child.Server.ClosedBy[server.ReasonSlowConsumer]-g.ShedConns, r.fastClosed, r.fastStalled)
			}
			if mode == "off" {
				return // what happens is reported, not asserted
			}
			switch {
			case r.exit != "exit 0":
				t.Errorf("child: %s", r.exit)
			case r.oomKills != 0:
				t.Errorf("%d OOM kills", r.oomKills)
			case r.peak >= cgroupLimit:
				t.Errorf("peak %d reached the limit %d", r.peak, cgroupLimit)
			}
			if g.Limit != cgroupLimit || (g.LimitSource != LimitCgroupV1 && g.LimitSource != LimitCgroupV2) {
				t.Errorf("the child's governor found %d from %v, want %d from the cgroup", g.Limit, g.LimitSource, cgroupLimit)
			}
			// Closed by the engine's memory budget (which the governor
			// sets) or by the governor's shedding, whichever comes first.
			if r.silentClosed != cgroupSilent {
				t.Errorf("%d of %d silent connections closed as slow consumers; the governor shed %d",
					r.silentClosed, cgroupSilent, g.ShedConns)
			}
			if r.fastClosed != 0 || r.fastStalled != 0 {
				t.Errorf("%d fast connections closed, %d received nothing in the last 2s", r.fastClosed, r.fastStalled)
			}
		})
	}
	if on, off := results["on"], results["off"]; on != nil && off != nil {
		t.Logf("peak usage with the governor %.1f MiB, without %.1f MiB (limit %d MiB; OOM kills %d and %d)",
			float64(on.peak)/(1<<20), float64(off.peak)/(1<<20), cgroupLimit>>20, on.oomKills, off.oomKills)
	}
}

// skipOrFail skips, or fails when CI is set: there the test must run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// testCgroup is a memory cgroup made for one run.
type testCgroup struct {
	dir string
	v2  bool
}

// newTestCgroup makes a memory cgroup with the given limit, v2 where the
// unified hierarchy has the memory controller, v1 otherwise, and removes it
// when the test ends.
func newTestCgroup(t *testing.T, name string, limit int64) *testCgroup {
	t.Helper()
	cg := &testCgroup{}
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(b), "memory") {
		cg.dir, cg.v2 = filepath.Join("/sys/fs/cgroup", name), true
	} else if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		cg.dir = filepath.Join("/sys/fs/cgroup/memory", name)
	} else {
		skipOrFail(t, "no cgroup memory controller found")
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		skipOrFail(t, "cannot create a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		var err error
		for range 50 { // the kernel may take a moment to let go of the last task
			if err = os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("removing cgroup %s: %v", cg.dir, err)
	})
	lim := strconv.FormatInt(limit, 10)
	if cg.v2 {
		cg.write(t, "memory.max", lim)
		os.WriteFile(filepath.Join(cg.dir, "memory.swap.max"), []byte("0"), 0)
	} else {
		cg.write(t, "memory.limit_in_bytes", lim)
		// With swap accounting, swap must not stretch the limit.
		os.WriteFile(filepath.Join(cg.dir, "memory.memsw.limit_in_bytes"), []byte(lim), 0)
	}
	return cg
}

func (cg *testCgroup) write(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0); err != nil {
		skipOrFail(t, "cgroup %s: %v", file, err)
	}
}

// peak returns the highest usage the cgroup has seen (v2 needs
// memory.peak, Linux 5.19).
func (cg *testCgroup) peak() int64 {
	f := "memory.max_usage_in_bytes"
	if cg.v2 {
		f = "memory.peak"
	}
	n, _ := readInt(filepath.Join(cg.dir, f))
	return n
}

// events returns how often the limit was hit and how many processes the
// kernel's OOM killer killed in the cgroup.
func (cg *testCgroup) events() (failcnt, oomKills int64) {
	if cg.v2 {
		failcnt, _ = readStat(filepath.Join(cg.dir, "memory.events"), "max")
		oomKills, _ = readStat(filepath.Join(cg.dir, "memory.events"), "oom_kill")
		return failcnt, oomKills
	}
	failcnt, _ = readInt(filepath.Join(cg.dir, "memory.failcnt"))
	oomKills, _ = readStat(filepath.Join(cg.dir, "memory.oom_control"), "oom_kill")
	return failcnt, oomKills
}

// runInCgroup runs one child in a fresh cgroup and the clients here.
func runInCgroup(t *testing.T, mode string, run time.Duration) *cgroupResult {
	cg := newTestCgroup(t, fmt.Sprintf("shoal-governor-test-%d-%s", os.Getpid(), mode), cgroupLimit)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(withoutEnv(os.Environ(), "GOMEMLIMIT", "GOGC", "GODEBUG"), childEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() || testing.Verbose() {
			t.Logf("child's log (tail):\n%s", tail(stderr.String(), 60))
		}
	})
	// Into the cgroup before the child allocates anything to speak of; it
	// waits for "go".
	if err := os.WriteFile(filepath.Join(cg.dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		skipOrFail(t, "cannot move a process into the cgroup: %v", err)
	}
	fmt.Fprintln(stdin, "go")
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	if !lines.Scan() {
		t.Fatalf("child gave no address: %v\n%s", lines.Err(), stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "addr ")
	if !ok {
		t.Fatalf("child said %q", lines.Text())
	}

	silent, fast := dialAll(t, addr)
	names := make([]string, len(silent))
	for i, c := range silent {
		names[i] = c.LocalAddr().String()
	}
	fmt.Fprintln(stdin, "flood", strings.Join(names, " "))
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
		for _, f := range fast {
			f.c.Close()
		}
	})
	ask := func(cmd string) (rep childReport, ok bool) {
		select {
		case <-exited:
			return rep, false
		default:
		}
		fmt.Fprintln(stdin, cmd)
		if !lines.Scan() {
			return rep, false
		}
		err := json.Unmarshal([]byte(strings.TrimPrefix(lines.Text(), "report ")), &rep)
		return rep, err == nil
	}
	start := time.Now()
	select {
	case <-time.After(run):
	case <-exited:
	}
	r := &cgroupResult{ran: time.Since(start)}
	cutoff := time.Now().Add(-2 * time.Second).UnixNano()
	for _, f := range fast {
		if f.last.Load() < cutoff {
			r.fastStalled++
		}
	}
	rep, ok := ask("report")
	r.silentAtEnd = countClosed(rep, silent)
	// The silent connections the governor has not shed by now hold less;
	// their own watermark closes them as they reach it.
	end := time.Now()
	for ok && countClosed(rep, silent) < cgroupSilent && time.Since(end) < 30*time.Second {
		time.Sleep(500 * time.Millisecond)
		rep, ok = ask("report")
	}
	r.grace = time.Since(end)
	if ok {
		r.child = rep
		r.silentClosed = countClosed(rep, silent)
		for _, f := range fast {
			if _, closed := rep.Closed[f.c.LocalAddr().String()]; closed {
				r.fastClosed++
			}
		}
		if rep, ok := ask("stop"); ok {
			r.child = rep
		}
	}
	r.peak = cg.peak()
	r.failcnt, r.oomKills = cg.events()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Error("child did not exit")
		cmd.Process.Kill()
		<-exited
	}
	r.exit = "exit 0"
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		r.exit = ee.ProcessState.String() // "signal: killed" after an OOM kill
	}
	return r
}

// countClosed counts the connections of conns the child closed as slow
// consumers.
func countClosed(rep childReport, conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		if rep.Closed[c.LocalAddr().String()] == server.ReasonSlowConsumer.String() {
			n++
		}
	}
	return n
}

// fastConn is a connection this side reads as fast as it can.
type fastConn struct {
	c    net.Conn
	last atomic.Int64 // unix nanoseconds of the last read
}

// dialAll opens the connections: every twentieth never reads, the others
// read on a goroutine each until closed.
func dialAll(t *testing.T, addr string) (silent []net.Conn, fast []*fastConn) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < cgroupConns; i = next.Add(1) - 1 {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				if i%(cgroupConns/cgroupSilent) == 0 {
					silent = append(silent, c)
					mu.Unlock()
					continue
				}
				f := &fastConn{c: c}
				f.last.Store(time.Now().UnixNano())
				fast = append(fast, f)
				mu.Unlock()
				go func() {
					buf := make([]byte, 32<<10)
					for {
						if _, err := f.c.Read(buf); err != nil {
							return
						}
						f.last.Store(time.Now().UnixNano())
					}
				}()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 || len(silent) != cgroupSilent {
		t.Fatalf("%d dials failed; %d silent connections", n, len(silent))
	}
	return silent, fast
}

func withoutEnv(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			out = append(out, kv)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lockedBuffer is a bytes.Buffer safe for the writes of exec's copier and
// the reads of the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
