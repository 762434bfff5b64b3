package main

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/shoalnet/shoal/examples/push/client"
)

// The payload of every published message starts with these fields; the
// rest is filler.
const (
	offSent   = 0  // int64: when the publisher sent it, ns since the run's base time (monotonic)
	offPub    = 8  // uint32: the publisher's index
	offSeq    = 12 // uint64: the publisher's message number, from 0
	stampSize = 20
)

// stamp writes the header fields into payload.
func stamp(payload []byte, sent time.Duration, pub int, seq uint64) {
	binary.BigEndian.PutUint64(payload[offSent:], uint64(sent))
	binary.BigEndian.PutUint32(payload[offPub:], uint32(pub))
	binary.BigEndian.PutUint64(payload[offSeq:], seq)
}

// latencies collects publish-to-delivery latencies in microseconds from
// many goroutines: subscribers batch samples and merge them into one of a
// few mutex-guarded histograms.
type latencies struct {
	shards []latencyShard
}

type latencyShard struct {
	mu     sync.Mutex
	e2e    *hdrhistogram.Histogram // publisher send -> subscriber receive
	server *hdrhistogram.Histogram // server's MSG stamp -> subscriber receive
	_      [64]byte                // keep the shards' locks on their own cache lines
}

// maxLatency is the largest latency recorded exactly (µs); larger ones are
// recorded as this.
const maxLatency = 120_000_000

func newLatencies(shards int) *latencies {
	l := &latencies{shards: make([]latencyShard, shards)}
	for i := range l.shards {
		l.shards[i].e2e = hdrhistogram.New(1, maxLatency, 3)
		l.shards[i].server = hdrhistogram.New(1, maxLatency, 3)
	}
	return l
}

// merged returns the end-to-end and server-stamp histograms of all shards.
func (l *latencies) merged() (e2e, server *hdrhistogram.Histogram) {
	e2e, server = hdrhistogram.New(1, maxLatency, 3), hdrhistogram.New(1, maxLatency, 3)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		e2e.Merge(s.e2e)
		server.Merge(s.server)
		s.mu.Unlock()
	}
	return e2e, server
}

// batchSize is how many samples a subscriber keeps before merging them.
const batchSize = 32

// subscriber is one subscribing connection of the load run. Its fields
// other than the atomics are owned by the client's reading goroutine until
// the client has closed.
type subscriber struct {
	c     *client.Client
	topic int
	base  time.Time
	lat   *latencyShard

	got    atomic.Uint64 // messages received
	lastAt atomic.Int64  // when the last one arrived, ns since base

	lastSeq  []int64 // per publisher: the last message number seen, -1 for none
	disorder uint64  // messages that came at or below the last number of their publisher
	foreign  uint64  // messages that do not carry the load tool's header
	n        int
	e2e      [batchSize]int64
	server   [batchSize]int64
}

func newSubscriber(topic, publishers int, base time.Time, lat *latencyShard) *subscriber {
	s := &subscriber{topic: topic, base: base, lat: lat, lastSeq: make([]int64, publishers)}
	for i := range s.lastSeq {
		s.lastSeq[i] = -1
	}
	return s
}

// onMessage runs on the client's reading goroutine for every MSG.
func (s *subscriber) onMessage(m client.Message) {
	now := time.Now()
	since := now.Sub(s.base)
	s.got.Add(1)
	s.lastAt.Store(int64(since))
	p := m.Payload
	if len(p) < stampSize {
		s.foreign++
		return
	}
	pub, seq := int(binary.BigEndian.Uint32(p[offPub:])), int64(binary.BigEndian.Uint64(p[offSeq:]))
	if pub >= len(s.lastSeq) {
		s.foreign++
		return
	}
	if seq <= s.lastSeq[pub] {
		s.disorder++
	} else {
		s.lastSeq[pub] = seq
	}
	sent := time.Duration(binary.BigEndian.Uint64(p[offSent:]))
	s.e2e[s.n] = int64(since-sent) / 1e3
	s.server[s.n] = (now.UnixNano() - m.Time) / 1e3
	if s.n++; s.n == batchSize {
		s.flush()
	}
}

// flush merges the batched samples into the shard.
func (s *subscriber) flush() {
	s.lat.mu.Lock()
	for i := range s.n {
		s.lat.e2e.RecordValue(min(max(s.e2e[i], 1), maxLatency))
		s.lat.server.RecordValue(min(max(s.server[i], 1), maxLatency))
	}
	s.lat.mu.Unlock()
	s.n = 0
}
