// Command load drives a push server (examples/push) with many subscribers
// and a few publishers and checks that every message reaches every
// subscriber of its topic, once and in order per publisher. It reports the
// delivered and expected counts, the delivery rate and the
// publish-to-delivery latency.
//
//	go run ./examples/push/load -addr 127.0.0.1:9100 -subs 10000 -pubs 1 -topics 1 \
//		-rate 100 -size 128 -duration 30s
//
// Subscriber i listens to topic i%topics; publisher j sends its k-th
// message to topic (j+k)%topics. Subscriber connections are spread over the
// source addresses 127.0.0.1 to 127.0.0.N (-src-ips), so that one source
// address never runs out of ephemeral ports. Each connection is a
// client.Client with one reading goroutine and a small read buffer.
//
// The exit status is 1 if a message is missing, duplicated or out of order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalnet/shoal/examples/push/client"
)

// config is the load run's configuration, from the flags.
type config struct {
	addr        string
	subs        int
	pubs        int
	topics      int
	rate        float64 // messages per second per publisher
	size        int
	duration    time.Duration
	drain       time.Duration
	srcIPs      int
	dialWorkers int
	readBuf     int
	readBufMax  int
	serverPID   int
}

func defaultConfig() config {
	return config{
		addr:        "127.0.0.1:9100",
		subs:        1000,
		pubs:        1,
		topics:      1,
		rate:        100,
		size:        128,
		duration:    10 * time.Second,
		drain:       30 * time.Second,
		srcIPs:      8,
		dialWorkers: 64,
		readBuf:     512,
		readBufMax:  512,
	}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.addr, "addr", cfg.addr, "push server address")
	flag.IntVar(&cfg.subs, "subs", cfg.subs, "subscriber connections")
	flag.IntVar(&cfg.pubs, "pubs", cfg.pubs, "publisher connections")
	flag.IntVar(&cfg.topics, "topics", cfg.topics, "topics (subscriber i listens to topic i%topics)")
	flag.Float64Var(&cfg.rate, "rate", cfg.rate, "messages per second per publisher")
	flag.IntVar(&cfg.size, "size", cfg.size, fmt.Sprintf("payload bytes (at least %d)", stampSize))
	flag.DurationVar(&cfg.duration, "duration", cfg.duration, "how long to publish: each publisher sends rate × duration messages")
	flag.DurationVar(&cfg.drain, "drain", cfg.drain, "how long to wait for deliveries after the last publish")
	flag.IntVar(&cfg.srcIPs, "src-ips", cfg.srcIPs, "spread subscribers over source addresses 127.0.0.1..127.0.0.N (1: only 127.0.0.1)")
	flag.IntVar(&cfg.dialWorkers, "dial-workers", cfg.dialWorkers, "concurrent connects while setting up")
	flag.IntVar(&cfg.readBuf, "read-buf", cfg.readBuf, "initial read buffer per subscriber connection")
	flag.IntVar(&cfg.readBufMax, "read-buf-max", cfg.readBufMax, "how far a subscriber's read buffer may grow for batches of messages")
	flag.IntVar(&cfg.serverPID, "server-pid", 0, "report this process's resident memory too (Linux)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res, err := run(ctx, cfg, log)
	if res != nil {
		res.print(os.Stdout, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if !res.ok() {
		os.Exit(1)
	}
}

func (c *config) validate() error {
	switch {
	case c.subs < 0 || c.pubs < 1 || c.topics < 1:
		return errors.New("need -subs >= 0, -pubs >= 1 and -topics >= 1")
	case c.rate <= 0:
		return errors.New("-rate must be positive")
	case c.size < stampSize:
		return fmt.Errorf("-size must be at least %d", stampSize)
	case c.srcIPs < 1 || c.srcIPs > 254:
		return errors.New("-src-ips must be 1..254")
	case c.dialWorkers < 1:
		return errors.New("-dial-workers must be positive")
	}
	return nil
}

// run sets up the connections, publishes for the duration, waits for the
// deliveries and returns the result. It closes every connection it opened.
func run(ctx context.Context, cfg config, log *slog.Logger) (*result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res := &result{}
	var err error
	if res.nofileSoft, res.nofileHard, err = raiseNofile(); err != nil {
		log.Warn("cannot raise the descriptor limit", "err", err)
	}
	base := time.Now()
	lat := newLatencies(16)
	subs := make([]*subscriber, cfg.subs)
	defer closeAll(subs)

	// Subscribers.
	setup := time.Now()
	if err := dialSubscribers(ctx, cfg, subs, base, lat); err != nil {
		return nil, err
	}
	res.setup = time.Since(setup)
	res.subsPerTopic = make([]int, cfg.topics)
	for i := range subs {
		res.subsPerTopic[i%cfg.topics]++
	}
	mem := startMemSampler(cfg.serverPID)
	defer mem.stop()
	load, srv := mem.peak()
	log.Info("subscribed", "subscribers", cfg.subs, "topics", cfg.topics, "took", res.setup.Round(time.Millisecond),
		"load_rss_mib", load>>20, "server_rss_mib", srv>>20)

	// Publishers.
	pubs := make([]*publisher, cfg.pubs)
	for j := range pubs {
		c, err := client.Dial(ctx, cfg.addr)
		if err != nil {
			closePubs(pubs)
			return nil, err
		}
		pubs[j] = &publisher{c: c, idx: j, published: make([]uint64, cfg.topics)}
	}
	defer closePubs(pubs)

	// Each publisher sends rate × duration messages on a fixed schedule.
	count := uint64(cfg.rate*cfg.duration.Seconds() + 0.5)
	var wg sync.WaitGroup
	start := time.Now()
	for _, p := range pubs {
		wg.Go(func() { p.run(ctx, cfg, count, start, base) })
	}
	wg.Wait()
	res.publishTime = time.Since(start)
	log.Info("published", "took", res.publishTime.Round(time.Millisecond))

	// Wait for the replies and the deliveries.
	deadline := time.Now().Add(cfg.drain)
	for _, p := range pubs {
		p.waitAcks(deadline)
	}
	for _, p := range pubs {
		res.acked += p.handed.Load()
		res.errs += p.errs.Load()
		for t, n := range p.published {
			res.published += n
			res.expected += n * uint64(res.subsPerTopic[t])
		}
	}
	res.subs = subs
	for res.delivered() < res.expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	res.lastDelivery = lastDelivery(subs, base) - start.Sub(base)
	mem.stop()
	res.loadRSS, res.serverRSS = mem.peak()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapSys, res.goroutines = ms.HeapSys, runtime.NumGoroutine()

	// Close, then read what the reading goroutines owned.
	for _, s := range subs {
		select {
		case <-s.c.Done():
			res.dropped++ // the server closed it (slow consumer) before the end
		default:
		}
	}
	closeAll(subs)
	for _, s := range subs {
		s.flush()
		res.disorder += s.disorder
		res.foreign += s.foreign
		if s.got.Load() != countFor(pubs, s.topic) {
			res.incomplete++
		}
	}
	res.e2e, res.server = lat.merged()
	return res, ctx.Err()
}

// dialSubscribers connects and subscribes cfg.subs clients with
// cfg.dialWorkers at a time.
func dialSubscribers(ctx context.Context, cfg config, subs []*subscriber, base time.Time, lat *latencies) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(cfg.dialWorkers, max(len(subs), 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(subs) || ctx.Err() != nil {
					return
				}
				mu.Lock()
				failed := first != nil
				mu.Unlock()
				if failed {
					return
				}
				s := newSubscriber(i%cfg.topics, cfg.pubs, base, &lat.shards[i%len(lat.shards)])
				err := s.connect(ctx, cfg, i)
				if err == nil {
					subs[i] = s
					continue
				}
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("subscriber %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// connect dials from source address 127.0.0.(1 + i%srcIPs) and subscribes.
func (s *subscriber) connect(ctx context.Context, cfg config, i int) error {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%cfg.srcIPs))}
	c, err := client.Dial(ctx, cfg.addr, client.WithLocalAddr(src), client.WithReadBuffer(cfg.readBuf, max(cfg.readBuf, cfg.readBufMax)),
		client.WithHandler(s.onMessage))
	if err != nil {
		return err
	}
	s.c = c
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Subscribe(sctx, topicName(s.topic)); err != nil {
		c.Close()
		s.c = nil
		return err
	}
	return nil
}

func topicName(i int) string { return fmt.Sprintf("load-%d", i) }

func closeAll(subs []*subscriber) {
	var wg sync.WaitGroup
	for _, s := range subs {
		if s != nil && s.c != nil {
			wg.Go(func() { s.c.Close() })
		}
	}
	wg.Wait()
}

func closePubs(pubs []*publisher) {
	for _, p := range pubs {
		if p != nil {
			p.c.Close()
		}
	}
}

// lastDelivery returns when the last message arrived, since base.
func lastDelivery(subs []*subscriber, base time.Time) time.Duration {
	var last int64
	for _, s := range subs {
		last = max(last, s.lastAt.Load())
	}
	return time.Duration(last)
}

// countFor returns how many messages the publishers sent to topic t.
func countFor(pubs []*publisher, t int) uint64 {
	var n uint64
	for _, p := range pubs {
		n += p.published[t]
	}
	return n
}

// memSampler records the peak resident memory of this process and of the
// server process every 100ms.
type memSampler struct {
	serverPID int
	mu        sync.Mutex // guards load and server
	load      uint64
	server    uint64
	done      chan struct{}
	stopped   chan struct{}
	once      sync.Once
}

func startMemSampler(serverPID int) *memSampler {
	m := &memSampler{serverPID: serverPID, done: make(chan struct{}), stopped: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.sample()
			case <-m.done:
				return
			}
		}
	}()
	return m
}

func (m *memSampler) sample() {
	load, server := rss(os.Getpid()), uint64(0)
	if m.serverPID > 0 {
		server = rss(m.serverPID)
	}
	m.mu.Lock()
	m.load, m.server = max(m.load, load), max(m.server, server)
	m.mu.Unlock()
}

// peak returns the largest samples so far, in bytes (0: unknown).
func (m *memSampler) peak() (load, server uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load, m.server
}

// stop ends the sampling with a last sample; it may be called again.
func (m *memSampler) stop() {
	m.once.Do(func() {
		close(m.done)
		<-m.stopped
		m.sample()
	})
}

// rss returns the resident memory of a process in bytes (Linux; 0
// elsewhere or on error).
func rss(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		var kb uint64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}
