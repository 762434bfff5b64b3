package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/shoalnet/shoal/examples/push/client"
)

// The push scenario measures fan-out with the push example server
// (examples/push, built from the working tree): pushSubs subscribers on one
// topic and one publisher sending at a fixed rate. Only shoal has such a
// server; the peers have no equivalent.

// pushConfig is one push run.
type pushConfig struct {
	addr     string
	subs     int
	rate     float64 // messages per second
	size     int     // payload bytes, at least pushHeader
	duration time.Duration
	drain    time.Duration // the longest wait for deliveries after the last publish
}

// pushTopic is the one topic of the run.
const pushTopic = "bench"

// The payload of every published message starts with when it was due
// (stamp clock, ns) and its number; the rest is a fixed filler.
const (
	pushHeader = 16
	pushDrain  = 30 * time.Second
)

// pushResult is what one push run measured.
type pushResult struct {
	subs      int           // subscribers connected and subscribed
	published int64         // PUBs written
	handed    int64         // the sum of the PUB ACK counts
	expected  int64         // published × subs
	delivered int64         // MSGs received, all subscribers
	window    time.Duration // first publish due → last delivery (or the drain deadline)
	hist      *hdrhistogram.Histogram
	errors    int64 // failed subscribes and publishes, bad or out-of-order messages, subscribers closed early
	firstErr  error
}

// pushSub is one subscriber. Its plain fields belong to the client's
// reading goroutine until Close has returned.
type pushSub struct {
	c     *client.Client
	lat   *latShard
	tmpl  []byte
	got   atomic.Int64
	next  uint64 // the number of the next message expected
	wrong int64  // messages out of order, or with a bad payload
}

// latShard is one of a few histograms the subscribers share.
type latShard struct {
	mu   sync.Mutex
	hist *hdrhistogram.Histogram
	_    [64]byte // keep the locks on separate cache lines
}

func (s *pushSub) onMessage(m client.Message) {
	now := stamp()
	s.got.Add(1)
	p := m.Payload
	if len(p) < pushHeader || !bytes.Equal(p[pushHeader:], s.tmpl) {
		s.wrong++
		return
	}
	due, k := int64(binary.LittleEndian.Uint64(p)), binary.LittleEndian.Uint64(p[8:])
	if k != s.next {
		s.wrong++
	}
	s.next = k + 1
	s.lat.mu.Lock()
	s.lat.hist.RecordValue(min(max(now-due, histMin), histMax))
	s.lat.mu.Unlock()
}

// runPush connects and subscribes cfg.subs subscribers, publishes
// rate × duration messages of size bytes on a fixed schedule (latency runs
// from when a message was due, not from when it was written), and waits
// until every subscriber has every message or the drain deadline passes.
// onWindow runs when publishing starts (true) and when the deliveries are
// complete (false); sampleRSS is called every 100 ms in between.
func runPush(cfg pushConfig, onSubscribed func(), onWindow func(start bool), sampleRSS func()) (pushResult, error) {
	if cfg.size < pushHeader {
		return pushResult{}, fmt.Errorf("push payload %d is below %d bytes", cfg.size, pushHeader)
	}
	tmpl := make([]byte, cfg.size-pushHeader)
	for i := range tmpl {
		tmpl[i] = byte(i*7 + 1)
	}
	shards := make([]latShard, 16)
	for i := range shards {
		shards[i].hist = newHist()
	}
	res := pushResult{hist: newHist()}
	ctx := context.Background()

	subs := make([]*pushSub, cfg.subs)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(dialParallel, cfg.subs) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < cfg.subs; i = int(next.Add(1) - 1) {
				s := &pushSub{lat: &shards[i%len(shards)], tmpl: tmpl}
				err := s.connect(ctx, cfg.addr, i)
				mu.Lock()
				if err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = fmt.Errorf("subscriber %d: %w", i, err)
					}
				} else {
					subs[i] = s
					res.subs++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	defer closeSubs(subs)
	if res.subs == 0 {
		return res, fmt.Errorf("no subscriber connected: %w", res.firstErr)
	}
	onSubscribed()

	pub, err := client.Dial(ctx, cfg.addr)
	if err != nil {
		return res, err
	}
	defer pub.Close()

	count := int64(cfg.rate*cfg.duration.Seconds() + 0.5)
	sch := schedule{first: stamp() + int64(10*time.Millisecond), interval: float64(time.Second) / cfg.rate}
	var handed, pubErrs atomic.Int64
	var acks sync.WaitGroup
	payload := make([]byte, cfg.size)
	copy(payload[pushHeader:], tmpl)
	onWindow(true)
	stopSampling := sampleEvery(100*time.Millisecond, sampleRSS)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := range count {
		if d := time.Duration(sch.at(k) - stamp()); d > 0 {
			timer.Reset(d)
			<-timer.C
		}
		binary.LittleEndian.PutUint64(payload, uint64(sch.at(k)))
		binary.LittleEndian.PutUint64(payload[8:], uint64(k))
		acks.Add(1)
		err := pub.PublishAsync(pushTopic, payload, func(n int, err error) {
			if err != nil {
				pubErrs.Add(1)
			} else {
				handed.Add(int64(n))
			}
			acks.Done()
		})
		if err != nil {
			acks.Done()
			pubErrs.Add(1)
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("publish %d: %w", k, err)
			}
			break
		}
		res.published++
	}

	res.expected = res.published * int64(res.subs)
	deadline := time.Now().Add(cfg.drain)
	delivered := func() int64 {
		var n int64
		for _, s := range subs {
			if s != nil {
				n += s.got.Load()
			}
		}
		return n
	}
	for delivered() < res.expected && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	res.window = time.Duration(stamp() - sch.first)
	stopSampling()
	onWindow(false)
	waitTimeout(&acks, time.Until(deadline))

	// Subscribers the server closed before the end missed messages.
	for i, s := range subs {
		if s == nil {
			continue
		}
		select {
		case <-s.c.Done():
			res.errors++
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("subscriber %d closed early: %v", i, s.c.Err())
			}
		default:
		}
	}
	closeSubs(subs)
	res.delivered = delivered()
	res.handed = handed.Load()
	res.errors += pubErrs.Load()
	for _, s := range subs {
		if s != nil {
			res.errors += s.wrong
		}
	}
	for i := range shards {
		res.hist.Merge(shards[i].hist)
	}
	return res, nil
}

// connect dials from the i-th source address and subscribes.
func (s *pushSub) connect(ctx context.Context, addr string, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.WithLocalAddr(&net.TCPAddr{IP: sourceIPs[i%len(sourceIPs)]}),
		client.WithReadBuffer(1<<10, 8<<10), client.WithHandler(s.onMessage))
	if err != nil {
		return err
	}
	if _, err := c.Subscribe(ctx, pushTopic); err != nil {
		c.Close()
		return err
	}
	s.c = c
	return nil
}

// closeSubs closes every subscriber, many at a time; Close waits for each
// reading goroutine, so their fields may be read afterwards.
func closeSubs(subs []*pushSub) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, dialParallel)
	for _, s := range subs {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			s.c.Close()
			<-sem
		})
	}
	wg.Wait()
}

// sampleEvery calls f every d until the returned stop function is called.
func sampleEvery(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(max(d, 0)):
	}
}

// pushRun is the outcome of one push run.
type pushRun struct {
	ok                   bool
	subs                 float64
	published, expected  float64
	delivered            float64
	rate                 float64 // deliveries per second
	p50ms, p99ms, p999ms float64
	maxms                float64
	cpuSec               float64 // server CPU from the first publish to the last delivery
	perCPU               float64 // deliveries per server CPU-second
	rssSubMiB, rssPeak   float64
	errors               int64
}

// buildPush builds the push example server from the working tree into dir
// and returns the path of the binary.
func buildPush(dir string) (string, error) {
	bin := filepath.Join(dir, "push")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/push")
	cmd.Dir = ".." // the repository root, as for shoalRevision
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/push: %w\n%s", err, out)
	}
	return bin, nil
}

// pushOnce runs the push scenario against a fresh push server.
func pushOnce(o options, bin string) (pushRun, error) {
	start := func() (*serverProc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		return startProc("push", addr, bin, "-addr", addr, "-admin=", "-loops", strconv.Itoa(o.loops), "-log-level", "warn")
	}
	var pr pushResult
	var rssSub, rssPeak atomic.Int64
	w, err := withServer(start, func(p *serverProc, onWindow func(bool)) error {
		var subErr error
		sample := func() {
			if rss, err := processRSS(p.pid()); err == nil {
				rssPeak.Store(max(rssPeak.Load(), rss))
			}
		}
		cfg := pushConfig{addr: p.addr, subs: o.pushSubs, rate: o.pushRate, size: o.pushSize, duration: o.pushDuration, drain: pushDrain}
		var err error
		pr, err = runPush(cfg, func() {
			time.Sleep(200 * time.Millisecond) // let the server settle
			rss, err := processRSS(p.pid())
			subErr = err
			rssSub.Store(rss)
			rssPeak.Store(rss)
		}, onWindow, sample)
		if err != nil {
			return err
		}
		return subErr
	})
	if err != nil {
		return pushRun{}, err
	}
	rssPeak.Store(max(rssPeak.Load(), w.rss)) // the sample at the last delivery
	if pr.firstErr != nil {
		prog.note("first error: %v", pr.firstErr)
	}
	ms := func(q float64) float64 { return float64(pr.hist.ValueAtQuantile(q)) / 1e6 }
	r := pushRun{
		ok:        pr.delivered > 0,
		subs:      float64(pr.subs),
		published: float64(pr.published),
		expected:  float64(pr.expected),
		delivered: float64(pr.delivered),
		rate:      float64(pr.delivered) / pr.window.Seconds(),
		p50ms:     ms(50),
		p99ms:     ms(99),
		p999ms:    ms(99.9),
		maxms:     float64(pr.hist.Max()) / 1e6,
		cpuSec:    w.cpuSec,
		rssSubMiB: float64(rssSub.Load()) / (1 << 20),
		rssPeak:   float64(rssPeak.Load()) / (1 << 20),
		errors:    pr.errors + max(pr.expected-pr.delivered, 0) + max(pr.expected-pr.handed, 0),
	}
	if r.cpuSec > 0 {
		r.perCPU = r.delivered / r.cpuSec
	}
	return r, nil
}

// pushScenario is the push scenario; it has one engine, shoal.
type pushScenario struct{}

func (pushScenario) name() string { return "push" }

func (pushScenario) plan(o options) { prog.plan(o.runs, pushEstimate(o)) }

// run builds the push server and runs the push scenario o.runs times.
func (pushScenario) run(o options, res *results) (failed bool) {
	est := pushEstimate(o)
	label := fmt.Sprintf("push %d subs %g/s %dB shoal", o.pushSubs, o.pushRate, o.pushSize)
	dir, err := os.MkdirTemp("", "shoal-bench-push-")
	var bin string
	if err == nil {
		defer os.RemoveAll(dir)
		bin, err = buildPush(dir)
	}
	for range o.runs {
		prog.begin(label, est)
		var r pushRun
		if err == nil {
			r, err = pushOnce(o, bin)
		}
		failed = prog.settle(err, &r.errors, fmt.Sprintf("%s of %s delivered, %s/s, p99 %.1f ms, server %.2f CPU-s, %d errors",
			fmtCount(r.delivered), fmtCount(r.expected), fmtCount(r.rate), r.p99ms, r.cpuSec, r.errors)) || failed
		err = nil
		res.push = append(res.push, r)
	}
	return failed
}

// pushEstimate is the expected time of one push run, for the progress bar.
func pushEstimate(o options) time.Duration {
	return o.pushDuration + time.Duration(o.pushSubs)*200*time.Microsecond + time.Second
}

func (pushScenario) section(b *strings.Builder, o options, res *results) {
	if res.push != nil {
		pushSection(b, o, res.push)
	}
}

// pushSection renders the push results.
func pushSection(b *strings.Builder, o options, runs []pushRun) {
	fmt.Fprintf(b, "\n## push: 1 publisher → %d subscribers on one topic, %g msgs/s of %d B for %v (shoal only)\n\n",
		o.pushSubs, o.pushRate, o.pushSize, o.pushDuration)
	b.WriteString("| engine | delivered / expected | deliveries/s | p50 (ms) | p99 (ms) | p999 (ms) | max (ms) | server CPU (s) | deliveries per server CPU-s | server RSS subscribed / peak (MiB) | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := rowOf(runs)
	fmt.Fprintf(b, "| shoal (examples/push) | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %d |\n",
		row.cell(func(r pushRun) float64 { return r.delivered }, fmtInt),
		row.cell(func(r pushRun) float64 { return r.expected }, fmtInt),
		row.cell(func(r pushRun) float64 { return r.rate }, fmtCount),
		row.cell(func(r pushRun) float64 { return r.p50ms }, fmtFloat2),
		row.cell(func(r pushRun) float64 { return r.p99ms }, fmtFloat2),
		row.cell(func(r pushRun) float64 { return r.p999ms }, fmtFloat2),
		row.cell(func(r pushRun) float64 { return r.maxms }, fmtFloat2),
		row.cell(func(r pushRun) float64 { return r.cpuSec }, fmtFloat2),
		row.cell(func(r pushRun) float64 { return r.perCPU }, fmtCount),
		row.cell(func(r pushRun) float64 { return r.rssSubMiB }, fmtFloat1),
		row.cell(func(r pushRun) float64 { return r.rssPeak }, fmtFloat1),
		row.errs)
	b.WriteString(pushLegend)
}

const pushLegend = `
The push example server (examples/push, built from the working tree, default flags, admin
endpoints off) with every subscriber on one topic. The publisher sends on a fixed schedule;
latency runs from when a message was due to when a subscriber has read it (one process, one
monotonic clock), so a publisher held back by the server does not hide the delay. delivered /
expected: messages read by all subscribers / messages published × subscribers; deliveries/s
is delivered over the time from the first publish to the last delivery, the window of the
server CPU. errors counts failed subscribes and publishes, messages out of order or damaged,
subscribers closed by the server, missing deliveries and PUB ACK counts short of the
subscribers; any nonzero value makes the row suspect.
`
