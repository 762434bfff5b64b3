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
	counted int    // what the memory budget counts for this queue: the unsent bytes of pooled chunks, sharedRefCost per Shared (a Shared's bytes are counted once for all its queues: Shared.queued)
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

// writeShared queues s by reference; the queue holds it until sent. It
// returns the bytes the budget counts for it besides sharedRefCost: its
// length if this is the first queue to hold it, else 0.
func (q *outbound) writeShared(s *Shared) (first int) {
	b := s.Retain().b
	q.n += len(b)
	q.counted += sharedRefCost
	q.queued += uint64(len(b))
	if s.queued.Add(1) == 1 {
		first = len(b)
	}
	if q.refs == nil {
		q.refs = make([]*Shared, len(q.chunks), len(q.chunks)+4)
	}
	q.chunks = append(q.chunks, b[:len(b):len(b)])
	q.refs = append(q.refs, s)
	return first
}

// free returns chunk i to the pool or releases its Shared, and returns
// the Shared's length if this was the last queue holding it (the budget
// counts its bytes no more), else 0.
func (q *outbound) free(i int) (last int) {
	if q.refs != nil && q.refs[i] != nil {
		s := q.refs[i]
		q.refs[i] = nil
		if s.queued.Add(-1) == 0 {
			last = len(s.b)
		}
		s.Release()
		return last
	}
	bufpool.Put(q.chunks[i])
	return 0
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
// reports how much the memory budget counted for what was sent: for the
// queue (own: the pooled bytes and the entries of the Shareds sent) and
// for the engine (shared: the bytes of the Shareds no other queue holds).
func (q *outbound) consume(n int, c Conn) (own, shared int) {
	q.n -= n
	q.sent += uint64(n)
	k := 0 // chunks fully sent
	for n > 0 {
		rest := len(q.chunks[k]) - q.head
		isShared := q.refs != nil && q.refs[k] != nil
		if n < rest {
			q.head += n
			if !isShared {
				own += n
			}
			break
		}
		n -= rest
		if isShared {
			own += sharedRefCost
		} else {
			own += rest
		}
		shared += q.free(k)
		k++
		q.head = 0
	}
	q.counted -= own
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
		return own, shared
	}
	fired := make([]waiter, done)
	copy(fired, q.waiters)
	m := copy(q.waiters, q.waiters[done:])
	clear(q.waiters[m:])
	q.waiters = q.waiters[:m]
	for _, w := range fired {
		w.fn(c, nil)
	}
	return own, shared
}

// release frees every chunk, fails the remaining waiters with err and
// returns the queue to the pool. It returns what the budget counted, as
// consume does: the queue's own count, and the bytes of the Shareds no
// other queue holds. The queue must not be used afterwards.
func (q *outbound) release(c Conn, err error) (own, shared int) {
	own = q.counted
	for i := range q.chunks {
		shared += q.free(i)
	}
	ws := q.waiters
	clear(q.chunks)
	*q = outbound{chunks: q.chunks[:0], refs: q.refs[:0:cap(q.refs)]} // keep the backing arrays for the next user
	outPool.Put(q)
	for _, w := range ws {
		w.fn(c, err)
	}
	return own, shared
}

// uncount gives back what the budget counted for output sent or dropped:
// own from the loop's count, shared from the engine's.
func (l *Loop) uncount(own, shared int) {
	l.cnt.outBytes.Add(-int64(own))
	if shared > 0 {
		l.e.shared.Add(-int64(shared))
	}
}
