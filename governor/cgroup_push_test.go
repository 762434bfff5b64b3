//go:build linux

package governor

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/push/client"
	"github.com/shoalnet/shoal/examples/push/proto"
)

// The same check as TestCgroupMemoryLimit, against examples/push itself:
// the push server runs in a 256 MiB memory cgroup; this process holds 5,000
// subscribers of one topic, 200 of which never read, and one publisher
// flooding 1 KiB messages with 64 publishes in flight.
const (
	pushSubscribers = 5000
	pushSilent      = 200
	pushInFlight    = 64 // publishes in flight; SHOAL_GOVERNOR_PUSH_INFLIGHT overrides it
	pushRun         = 30 * time.Second
	pushTopic       = "flood"
)

// pushResult is what one run of the push server found.
type pushResult struct {
	peak, failcnt, oomKills int64
	exit                    string        // "running" if the server outlived the run
	ran                     time.Duration // until the end of the run or the server's death
	published               int64         // publishes acknowledged
	silentClosed            int           // silent subscribers whose connection the server closed
	fastClosed              int           // fast subscribers whose connection the server closed
	fastStalled             int           // fast subscribers open at the end without a message in the last 5s
	fastMsgs                int64         // messages the fast subscribers received in all
	fastMin, fastMax        int64         // messages per fast subscriber
	metrics                 map[string]float64
}

// TestCgroupPushExample builds examples/push and runs it under a real
// 256 MiB limit two ways: with its defaults (the memory governor and its
// engine budget, the node's -max-pending), the server must stay below the
// limit, never be OOM-killed, close the silent subscribers as slow and
// keep delivering to the others; without the governor, the test reports
// what happens. A message is in memory once however many subscribers
// queue it (store-once), so the flood costs little either way. It skips like TestCgroupMemoryLimit.
func TestCgroupPushExample(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("runs for about 80s")
	case raceEnabled:
		t.Skip("the race detector's shadow memory is not what a deployment uses")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to create a memory cgroup")
	}
	inFlight := pushInFlight
	if v, err := strconv.Atoi(os.Getenv("SHOAL_GOVERNOR_PUSH_INFLIGHT")); err == nil && v > 0 {
		inFlight = v
	}
	bin := buildPush(t)
	results := map[string]*pushResult{}
	// on: the example's defaults, the governor and the engine's memory
	// budget it sets (which counts every queued reference to a shared
	// MSG frame as a copy, and so holds the publisher back); off: no
	// governor, reported.
	modes := []string{"on", "off"}
	if m := os.Getenv("SHOAL_GOVERNOR_PUSH_MODES"); m != "" {
		modes = strings.Split(m, ",")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := runPushInCgroup(t, bin, mode, inFlight)
			results[mode] = r
			t.Logf("%d publishes in flight", inFlight)
			t.Logf("%s: peak %.1f MiB of %d MiB, failcnt %d, OOM kills %d, server %s after %v; %d publishes acknowledged",
				mode, float64(r.peak)/(1<<20), cgroupLimit>>20, r.failcnt, r.oomKills, r.exit,
				r.ran.Round(100*time.Millisecond), r.published)
			t.Logf("silent subscribers closed by the server: %d of %d; fast subscribers closed %d, stalled %d of %d; "+
				"fast deliveries %d (%d to %d per subscriber)",
				r.silentClosed, pushSilent, r.fastClosed, r.fastStalled, pushSubscribers-pushSilent,
				r.fastMsgs, r.fastMin, r.fastMax)
			slow := sumMetric(r.metrics, "shoal_connections_closed_total{", `reason="slow_consumer"`)
			if len(r.metrics) > 0 {
				t.Logf("metrics: governor shed %v connections (%v stalled; %v bytes, %v rounds); "+
					"closed as slow consumers %v; node slow_closed %v",
					r.metrics["shoal_governor_shed_connections_total"], r.metrics["shoal_governor_shed_stalled_connections_total"],
					r.metrics["shoal_governor_shed_bytes_total"], r.metrics["shoal_governor_shed_rounds_total"],
					slow, r.metrics["push_slow_closed_total"])
			}
			if mode == "off" {
				return // what happens is reported, not asserted
			}
			switch {
			case r.exit != "running":
				t.Errorf("server: %s", r.exit)
			case r.oomKills != 0:
				t.Errorf("%d OOM kills", r.oomKills)
			case r.peak >= cgroupLimit:
				t.Errorf("peak %d reached the limit %d", r.peak, cgroupLimit)
			}
			// The silent subscribers are closed as slow: by the node past
			// -max-pending (ERR 8), or by the engine (stalled while the
			// governor throttles, or while the budget holds reads back),
			// whichever comes first.
			if slow += r.metrics["push_slow_closed_total"]; r.silentClosed != pushSilent || slow < pushSilent {
				t.Errorf("%d of %d silent subscribers closed; %v closed as slow", r.silentClosed, pushSilent, slow)
			}
			// A throttle can last over 5s (the silent queues keep memory above
			// the low mark), during which the publisher is held back and the
			// fast subscribers have nothing to receive: what they must have
			// is every acknowledged publish but those still in flight.
			if r.fastClosed != 0 || r.fastMin < r.published-int64(inFlight) {
				t.Errorf("%d fast subscribers closed; the slowest got %d messages of %d acknowledged",
					r.fastClosed, r.fastMin, r.published)
			}
		})
	}
	if on, off := results["on"], results["off"]; on != nil && off != nil {
		t.Logf("peak usage: with the governor %.1f MiB, without %.1f MiB (limit %d MiB; OOM kills %d and %d)",
			float64(on.peak)/(1<<20), float64(off.peak)/(1<<20), cgroupLimit>>20, on.oomKills, off.oomKills)
	}
}

// buildPush builds examples/push into a temporary directory.
func buildPush(t *testing.T) string { return buildExample(t, "push") }

// fastSub is a subscriber that reads and counts every message.
type fastSub struct {
	c    net.Conn
	msgs atomic.Int64
	last atomic.Int64 // unix nanoseconds of the last message
	err  atomic.Pointer[error]
}

var logAddr = regexp.MustCompile(`msg="([^"]+)" addr=(\S+)`)

func runPushInCgroup(t *testing.T, bin, mode string, inFlight int) *pushResult {
	cg := newTestCgroup(t, fmt.Sprintf("shoal-governor-push-%d-%s", os.Getpid(), mode), cgroupLimit)
	// Into the cgroup before the first allocation: the shell moves itself
	// and then becomes the server.
	args := []string{"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-stats", "1s",
		"-governor=" + strconv.FormatBool(mode != "off")}
	args = append(args, strings.Fields(os.Getenv("SHOAL_GOVERNOR_PUSH_ARGS"))...) // for sweeps: -engine-budget 0.3

	p := startInCgroup(t, cg, bin, args...)
	cmd, addrs, exited, logBuf := p.cmd, p.addrs, p.exited, p.logs
	var addr, adminAddr string
	for addr == "" || adminAddr == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "push server listening":
				addr = a[1]
			case "admin endpoints listening":
				adminAddr = a[1]
			}
		case <-exited:
			t.Fatalf("server exited: %v\n%s", p.waitErr, logBuf.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("server gave no addresses\n%s", logBuf.String())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs")); strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("cgroup.procs holds %q, want the server %d", b, cmd.Process.Pid)
	}

	silent, fast := dialPushSubscribers(t, addr)
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
		for _, f := range fast {
			f.c.Close()
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	// The silent subscribers' SUBs have no ACK to wait for: publish until
	// the message reaches all 5,000.
	payload := make([]byte, cgroupMessage)
	for deadline := time.Now().Add(20 * time.Second); ; {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := pub.Publish(pctx, pushTopic, payload)
		pcancel()
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if n == pushSubscribers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic has %d subscribers, want %d", n, pushSubscribers)
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := &pushResult{exit: "running"}
	start := time.Now()
	stop := make(chan struct{})
	var pubDone sync.WaitGroup
	pubDone.Go(func() {
		sem := make(chan struct{}, inFlight)
		for {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			case <-pub.Done():
				return
			}
			err := pub.PublishAsync(pushTopic, payload, func(_ int, err error) {
				if err == nil {
					atomic.AddInt64(&r.published, 1)
				}
				<-sem
			})
			if err != nil {
				return
			}
		}
	})
	select {
	case <-time.After(pushRun):
	case <-exited:
	}
	r.ran = time.Since(start)
	close(stop)
	cutoff := time.Now().Add(-5 * time.Second).UnixNano()
	// Let the messages in flight arrive: every open fast subscriber should
	// get all acknowledged publishes; wait up to 10s for it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		want, behind := atomic.LoadInt64(&r.published), 0
		for _, f := range fast {
			if f.err.Load() == nil && f.msgs.Load() < want {
				behind++
			}
		}
		if behind == 0 {
			break
		}
	}
	r.fastMin = -1
	for _, f := range fast {
		n := f.msgs.Load()
		r.fastMsgs += n
		if r.fastMin < 0 || n < r.fastMin {
			r.fastMin = n
		}
		r.fastMax = max(r.fastMax, n)
		if f.err.Load() != nil {
			r.fastClosed++
		} else if f.last.Load() < cutoff {
			r.fastStalled++
		}
	}
	select {
	case <-exited:
	default:
		r.metrics = scrapeMetrics(t, adminAddr)
	}
	// The silent subscribers: drain what the kernel holds for them and see
	// whether the server closed them (EOF or reset) or they are still open.
	r.silentClosed = countServerClosed(silent, 3*time.Second)
	r.peak = cg.peak()
	r.failcnt, r.oomKills = cg.events()
	select {
	case <-exited:
		r.exit = "exited"
		var ee *exec.ExitError
		if errors.As(p.waitErr, &ee) {
			r.exit = ee.ProcessState.String() // "signal: killed" after an OOM kill
		}
	default:
	}
	pub.Close()
	pubDone.Wait()
	return r
}

// dialPushSubscribers opens the subscribers from 127.0.0.1 to 127.0.0.8:
// every 25th sends its SUB and never reads, the others read on a goroutine
// each until the connection ends.
func dialPushSubscribers(t *testing.T, addr string) (silent []net.Conn, fast []*fastSub) {
	sub, err := proto.AppendBody(nil, &proto.Body{Type: proto.TypeSub, Req: 1, Topic: []byte(pushTopic)})
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(sub)))
	frame = append(frame, sub...)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < pushSubscribers; i = next.Add(1) - 1 {
				d := net.Dialer{Timeout: 10 * time.Second,
					LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}}
				if i%(pushSubscribers/pushSilent) == 0 {
					// A small receive window (set before connect, so that it
					// is what the handshake announces): what a silent
					// subscriber does not take piles up in the server, not
					// in this side's kernel.
					d.Control = func(_, _ string, rc syscall.RawConn) error {
						var serr error
						err := rc.Control(func(fd uintptr) {
							serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
						})
						return cmp.Or(err, serr)
					}
				}
				c, err := d.Dial("tcp", addr)
				if err == nil {
					_, err = c.Write(frame)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					if c != nil {
						c.Close()
					}
					continue
				}
				mu.Lock()
				if i%(pushSubscribers/pushSilent) == 0 {
					silent = append(silent, c)
					mu.Unlock()
					continue
				}
				f := &fastSub{c: c}
				f.last.Store(time.Now().UnixNano())
				fast = append(fast, f)
				mu.Unlock()
				go f.read()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 || len(silent) != pushSilent {
		t.Fatalf("%d dials failed (%v); %d silent subscribers", n, *firstErr.Load(), len(silent))
	}
	return silent, fast
}

// read reads frames and counts the MSGs until the connection ends.
func (f *fastSub) read() {
	br := bufio.NewReaderSize(f.c, 64<<10)
	var hdr [proto.FrameHeader]byte
	body := make([]byte, 0, 2<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			f.err.Store(&err)
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > proto.DefaultMaxPayload*2 {
			err := fmt.Errorf("frame of %d bytes", n)
			f.err.Store(&err)
			return
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			f.err.Store(&err)
			return
		}
		if n > 0 && proto.Type(body[0]) == proto.TypeMsg {
			f.msgs.Add(1)
			f.last.Store(time.Now().UnixNano())
		}
	}
}

// countServerClosed reads each connection until it ends or stays quiet for
// quiet, and counts those that ended with EOF or a reset.
func countServerClosed(conns []net.Conn, quiet time.Duration) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for {
				c.SetReadDeadline(time.Now().Add(quiet))
				_, err := c.Read(buf)
				if err == nil {
					continue
				}
				if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
					n.Add(1)
				}
				return
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

// sumMetric adds the samples whose name and labels start with prefix and
// contain label.
func sumMetric(m map[string]float64, prefix, label string) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, label) {
			n += v
		}
	}
	return n
}

// scrapeMetrics reads the admin's /metrics: the samples without labels,
// and those with their labels as written.
func scrapeMetrics(t *testing.T, adminAddr string) map[string]float64 {
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Logf("metrics: %v", err)
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// cgroupProc is an example server started inside a test cgroup.
type cgroupProc struct {
	cmd     *exec.Cmd
	logs    *lockedBuffer
	addrs   chan [2]string // (message, addr=) of each log line that has an addr
	exited  chan struct{}  // closed once the process has exited
	waitErr error          // valid once exited is closed
}

// startInCgroup starts bin with args inside cg before its first
// allocation (a shell moves itself into the cgroup, then becomes the
// server), without the environment's GOMEMLIMIT, GOGC and GODEBUG, and
// kills it when the test ends, printing its log's tail if the test failed.
func startInCgroup(t *testing.T, cg *testCgroup, bin string, args ...string) *cgroupProc {
	t.Helper()
	script := `echo $$ > "$1" && shift && exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh", filepath.Join(cg.dir, "cgroup.procs"), bin}, args...)...)
	cmd.Env = withoutEnv(os.Environ(), "GOMEMLIMIT", "GOGC", "GODEBUG")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cgroupProc{cmd: cmd, logs: &lockedBuffer{}, addrs: make(chan [2]string, 4), exited: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
			if m := logAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case p.addrs <- [2]string{m[1], m[2]}:
				default: // nobody waits for more addresses
				}
			}
		}
	}()
	go func() { <-copied; p.waitErr = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() || testing.Verbose() {
			t.Logf("server's log (tail):\n%s", tail(p.logs.String(), 25))
		}
	})
	return p
}
