package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/examples/push/client"
)

// publisher is one publishing connection of the load run.
type publisher struct {
	c         *client.Client
	idx       int
	published []uint64 // per topic; owned by run until it returns

	handed   atomic.Uint64 // the sum of the PUB ACK counts
	errs     atomic.Uint64 // failed publishes
	inflight sync.WaitGroup
}

// run publishes count messages at cfg.rate, or until ctx ends. Sends are
// paced against a fixed schedule, so a late tick is made up at once instead
// of lowering the count; publishes do not wait for their ACK.
func (p *publisher) run(ctx context.Context, cfg config, count uint64, start, base time.Time) {
	names := make([]string, cfg.topics)
	for t := range names {
		names[t] = topicName(t)
	}
	payload := make([]byte, cfg.size) // PublishAsync has sent or copied it when it returns
	interval := float64(time.Second) / cfg.rate
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := range count {
		if d := time.Until(start.Add(time.Duration(float64(k) * interval))); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		t := (p.idx + int(k)) % cfg.topics
		stamp(payload, time.Since(base), p.idx, k)
		p.inflight.Add(1)
		err := p.c.PublishAsync(names[t], payload, func(n int, err error) {
			if err != nil {
				p.errs.Add(1)
			} else {
				p.handed.Add(uint64(n))
			}
			p.inflight.Done()
		})
		if err != nil {
			p.inflight.Done()
			p.errs.Add(1)
			return
		}
		p.published[t]++
	}
}

// waitAcks waits until every publish has its reply, or the deadline.
func (p *publisher) waitAcks(deadline time.Time) {
	done := make(chan struct{})
	go func() {
		p.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
}
