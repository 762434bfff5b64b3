// Package bufpool is a size-classed pool of byte slices shared by every loop.
// Classes are powers of two from MinSize to MaxSize; larger requests are
// allocated and dropped, so a single huge message does not pin memory.
// It is safe for concurrent use.
package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"
)

const (
	minShift = 9  // 512 B
	maxShift = 26 // 64 MiB
	// MinSize is the smallest class.
	MinSize = 1 << minShift
	// MaxSize is the largest pooled class.
	MaxSize = 1 << maxShift
)

// pools hold *byte pointing at the first byte of an array of exactly the
// class size: a pointer fits an interface without allocating.
var pools [maxShift - minShift + 1]sync.Pool

func class(n int) int {
	if n <= MinSize {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a slice of length 0 and capacity at least n.
func Get(n int) []byte {
	if n > MaxSize {
		return make([]byte, 0, n)
	}
	c := class(n)
	if p, ok := pools[c].Get().(*byte); ok {
		return unsafe.Slice(p, 1<<(c+minShift))[:0]
	}
	return make([]byte, 0, 1<<(c+minShift))
}

// Put returns b to its class. Slices whose capacity is not a class size
// (not from Get) are dropped. b must not be used afterwards.
func Put(b []byte) {
	c := cap(b)
	if c < MinSize || c > MaxSize || c&(c-1) != 0 {
		return
	}
	pools[bits.Len(uint(c))-1-minShift].Put(unsafe.SliceData(b[:1]))
}
