package loop

import (
	"sync"
	"time"

	"github.com/shoalnet/shoal/internal/bufpool"
)

// chunkSize is the smallest buffer an outbound queue takes from the pool.
const chunkSize = 4 << 10

// outbound is a connection's queue of bytes not yet handed to the kernel: a
// list of pooled chunks, the first one partly sent. A connection holds one
// only while something is pending; emptied queues go back to outPool.
// A chunk may also be a Shared's bytes, queued by reference: refs[i] is
// then the Shared (nil for a pooled chunk), and the chunk's capacity is its
// length, so that no later write copies into it.
// It is not safe for concurrent use; its owner serializes access.
type outbound struct {
	chunks  [][]byte  // pooled buffers; chunks[0][head:] is the next byte to send
	refs    []*Shared // nil, or one entry per chunk (since the first Shared)
	head    int
	n       int    // unsent bytes
	counted int    // what the memory budget counts for them: n, plus sharedRefCost per Shared
	queued  uint64 // bytes ever queued
	sent    uint64 // bytes ever sent
	waiters []waiter
	// moved is when the queue was created or last sent bytes, on the
	// engine's monotonic clock (monotime): a queue that has not moved for
	// long belongs to a stalled consumer (ShedStalledConsumers).
	moved time.Duration
}

// waiter is an AsyncWrite completion that fires once sent reaches at.
type waiter struct {
	at uint64
	fn func(Conn, error)
}

var outPool = sync.Pool{New: func() any { return new(outbound) }}

func getOutbound() *outbound { return outPool.Get().(*outbound) }

// write copies p to the tail of the queue.
func (q *outbound) write(p []byte) {
	q.n += len(p)
	q.counted += len(p)
	q.queued += uint64(len(p))
	if last := len(q.chunks) - 1; last >= 0 {
		t := q.chunks[last]
		k := copy(t[len(t):cap(t)], p)
		q.chunks[last] = t[:len(t)+k]
		p = p[k:]
	}
	if len(p) > 0 {
		c := bufpool.Get(max(len(p), chunkSize))
		q.chunks = append(q.chunks, append(c, p...))
		if q.refs != nil {
			q.refs = append(q.refs, nil)
		}
	}
}

// sharedRefCost is what the memory budget adds for each Shared a queue
// holds, besides its bytes: the queue's entry for it (a slice header and a
// pointer).
const sharedRefCost = 32

// writeShared queues s by reference; the queue holds it until sent.
func (q *outbound) writeShared(s *Shared) {
	b := s.Retain().b
	q.n += len(b)
	q.counted += len(b) + sharedRefCost
	q.queued += uint64(len(b))
	if q.refs == nil {
		q.refs = make([]*Shared, len(q.chunks), len(q.chunks)+4)
	}
	q.chunks = append(q.chunks, b[:len(b):len(b)])
	q.refs = append(q.refs, s)
}

// free returns chunk i to the pool or releases its Shared.
func (q *outbound) free(i int) {
	if q.refs != nil && q.refs[i] != nil {
		q.refs[i].Release()
		q.refs[i] = nil
		return
	}
	bufpool.Put(q.chunks[i])
}

// wait registers fn to run when every byte queued so far has been sent.
func (q *outbound) wait(fn func(Conn, error)) {
	q.waiters = append(q.waiters, waiter{at: q.queued, fn: fn})
}

// views appends the unsent bytes to dst, one slice per chunk.
func (q *outbound) views(dst [][]byte) [][]byte {
	for i, c := range q.chunks {
		if i == 0 {
			c = c[q.head:]
		}
		dst = append(dst, c)
	}
	return dst
}

// consume drops n sent bytes, returns emptied chunks to the pool (or
// releases their Shared), runs the waiters that are now complete and
// reports how much the memory budget counted for what was sent.
func (q *outbound) consume(n int, c Conn) (counted int) {
	q.n -= n
	q.sent += uint64(n)
	counted = n
	k := 0 // chunks fully sent
	for n > 0 {
		rest := len(q.chunks[k]) - q.head
		if n < rest {
			q.head += n
			break
		}
		n -= rest
		if q.refs != nil && q.refs[k] != nil {
			counted += sharedRefCost
		}
		q.free(k)
		k++
		q.head = 0
	}
	q.counted -= counted
	if k > 0 {
		m := copy(q.chunks, q.chunks[k:])
		clear(q.chunks[m:])
		q.chunks = q.chunks[:m]
		if q.refs != nil {
			copy(q.refs, q.refs[k:])
			clear(q.refs[m:])
			q.refs = q.refs[:m]
		}
	}
	done := 0
	for done < len(q.waiters) && q.waiters[done].at <= q.sent {
		done++
	}
	if done == 0 {
		return counted
	}
	fired := make([]waiter, done)
	copy(fired, q.waiters)
	m := copy(q.waiters, q.waiters[done:])
	clear(q.waiters[m:])
	q.waiters = q.waiters[:m]
	for _, w := range fired {
		w.fn(c, nil)
	}
	return counted
}

// release frees every chunk, fails the remaining waiters with err and
// returns the queue to the pool. The queue must not be used afterwards.
func (q *outbound) release(c Conn, err error) {
	for i := range q.chunks {
		q.free(i)
	}
	ws := q.waiters
	clear(q.chunks)
	*q = outbound{chunks: q.chunks[:0], refs: q.refs[:0:cap(q.refs)]} // keep the backing arrays for the next user
	outPool.Put(q)
	for _, w := range ws {
		w.fn(c, err)
	}
}
