package loop

import "sync/atomic"

// Shared is an immutable message that many connections queue by reference
// (Conn.WriteShared): however many connections hold it, it is in memory
// once, and no connection copies it. It counts its holders: NewShared
// makes the caller the first, each connection that queues it is one more
// until it has handed the last byte to the kernel (or closed), and the
// last Release runs the free function given to NewShared, which may put
// the buffer back to a pool.
//
// The bytes must not change once the Shared is made. Safe for concurrent
// use: connections on every loop may hold one Shared.
//
// The memory budget (Group.SetMemoryBudget) counts what a Shared costs:
// its bytes once while any connection's queue holds it, plus 32 bytes per
// queue holding it (the queue's entry). That is what is in memory, so the
// budget bounds fan-out by construction (it holds publishers back, and
// sheds the consumers that stall) without taking 10,000 references for
// 10,000 copies. The watermarks and the slow-consumer policy count its
// bytes per connection: a consumer that does not read is slow whatever
// it holds.
type Shared struct {
	b      []byte
	refs   atomic.Int32
	queued atomic.Int32 // connections' queues holding it: the budget counts its bytes while one does
	free   func([]byte)
}

// NewShared returns a Shared holding b, held once (by the caller, who
// calls Release when done with it). free, if not nil, runs with b after
// the last Release, on the goroutine that made it.
func NewShared(b []byte, free func([]byte)) *Shared {
	s := &Shared{b: b, free: free}
	s.refs.Store(1)
	return s
}

// Bytes returns the message. It must not be modified.
func (s *Shared) Bytes() []byte { return s.b }

// Len returns the length of the message.
func (s *Shared) Len() int { return len(s.b) }

// Retain adds a holder, who will call Release, and returns s.
func (s *Shared) Retain() *Shared {
	if s.refs.Add(1) <= 1 {
		panic("loop: Retain of a released Shared")
	}
	return s
}

// Release drops a holder; the last one frees the message.
func (s *Shared) Release() {
	switch n := s.refs.Add(-1); {
	case n == 0:
		b := s.b
		s.b = nil
		if s.free != nil {
			s.free(b)
		}
	case n < 0:
		panic("loop: Release of a released Shared")
	}
}

// Holders returns how many hold s now: the owner's references and the
// connections that have not yet sent it.
func (s *Shared) Holders() int { return int(s.refs.Load()) }
