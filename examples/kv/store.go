package main

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"
)

// shardCount is the number of independently locked parts of the keyspace.
// A multi-key command locks the shards of its keys in ascending order (a
// uint64 mask), which is the only lock order in the store.
const shardCount = 64

// entry is one key. Its fields are guarded by the mutex of its shard.
type entry struct {
	key  string
	val  []byte // a private copy of the value
	exp  int64  // expiry, Unix milliseconds; 0: none
	slot int32  // index in shard.slots
	tidx int32  // index in shard.ttl; -1: not there (exp == 0)
}

// shard is a part of the keyspace with its own lock.
type shard struct {
	mu sync.Mutex
	m  map[string]*entry // guarded by mu
	// slots gives every key a position that does not change while the key
	// lives, so that a SCAN cursor (a shard and a position) returns every
	// key that exists for the whole scan. Deleted positions are nil and
	// reused through free.
	slots []*entry // guarded by mu
	free  []int32  // guarded by mu
	// ttl holds the keys with an expiry, for active expiry to sample.
	ttl     []*entry // guarded by mu
	expired uint64   // keys removed because they expired; guarded by mu
	_       [64]byte // keeps shards' locks on separate cache lines
}

// store is the keyspace: safe for concurrent use by every loop.
type store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	now    func() int64 // the clock, Unix milliseconds; tests replace it
	stop   chan struct{}
	done   chan struct{}
}

func newStore() *store {
	s := &store{seed: maphash.MakeSeed(), now: func() int64 { return time.Now().UnixMilli() }}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
	}
	return s
}

// shardOf returns the index of key's shard.
func (s *store) shardOf(key []byte) int {
	return int(maphash.Bytes(s.seed, key) % shardCount)
}

// lock locks key's shard and returns it.
func (s *store) lock(key []byte) *shard {
	sh := &s.shards[s.shardOf(key)]
	sh.mu.Lock()
	return sh
}

// lockMask locks the shards of the keys args[first], args[first+step],
// ... in ascending order and returns the mask to pass to unlockMask.
func (s *store) lockMask(args [][]byte, first, step int) uint64 {
	var mask uint64
	for i := first; i < len(args); i += step {
		mask |= 1 << s.shardOf(args[i])
	}
	for m := mask; m != 0; m &= m - 1 {
		s.shards[bits.TrailingZeros64(m)].mu.Lock()
	}
	return mask
}

func (s *store) unlockMask(mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		s.shards[bits.TrailingZeros64(m)].mu.Unlock()
	}
}

// live returns key's entry in the locked shard sh, removing it if it has
// expired (lazy expiry). The clock is read only for keys with an expiry.
func (s *store) live(sh *shard, key []byte) *entry {
	e := sh.m[string(key)]
	if e != nil && e.exp != 0 && e.exp <= s.now() {
		sh.remove(e)
		sh.expired++
		return nil
	}
	return e
}

// insert adds a new key (with no value yet and no expiry) to the locked
// shard sh.
func (sh *shard) insert(key []byte) *entry {
	e := &entry{key: string(key), tidx: -1}
	sh.m[e.key] = e
	if n := len(sh.free); n > 0 {
		e.slot = sh.free[n-1]
		sh.free = sh.free[:n-1]
		sh.slots[e.slot] = e
	} else {
		e.slot = int32(len(sh.slots))
		sh.slots = append(sh.slots, e)
	}
	return e
}

// setVal copies val into e, reusing e's buffer when it fits without
// holding on to much more memory than the value needs.
func (e *entry) setVal(val []byte) {
	if cap(e.val) >= len(val) && cap(e.val) <= 2*len(val)+64 {
		e.val = append(e.val[:0], val...)
		return
	}
	e.val = append(make([]byte, 0, len(val)), val...)
}

// setExp sets e's expiry (0: none), keeping sh.ttl in step.
func (sh *shard) setExp(e *entry, exp int64) {
	switch {
	case exp != 0 && e.tidx < 0:
		e.tidx = int32(len(sh.ttl))
		sh.ttl = append(sh.ttl, e)
	case exp == 0 && e.tidx >= 0:
		sh.dropTTL(e)
	}
	e.exp = exp
}

func (sh *shard) dropTTL(e *entry) {
	last := len(sh.ttl) - 1
	moved := sh.ttl[last]
	sh.ttl[e.tidx] = moved
	moved.tidx = e.tidx
	sh.ttl[last] = nil
	sh.ttl = sh.ttl[:last]
	e.tidx = -1
}

// remove deletes e from the shard.
func (sh *shard) remove(e *entry) {
	delete(sh.m, e.key)
	sh.slots[e.slot] = nil
	if e.slot == int32(len(sh.slots)-1) {
		sh.slots = sh.slots[:e.slot]
	} else {
		sh.free = append(sh.free, e.slot)
	}
	if e.tidx >= 0 {
		sh.dropTTL(e)
	}
}

// flush empties the shard. sh must be locked.
func (sh *shard) flush() {
	clear(sh.m)
	sh.slots, sh.free, sh.ttl = nil, nil, nil
}

// size returns the number of keys, expired ones not yet removed included
// (like Redis's DBSIZE), and of keys with an expiry.
func (s *store) size() (keys, expires int) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		keys += len(sh.m)
		expires += len(sh.ttl)
		sh.mu.Unlock()
	}
	return keys, expires
}

func (s *store) expiredCount() uint64 {
	var n uint64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.expired
		sh.mu.Unlock()
	}
	return n
}

// scan visits live keys from cursor on, in at most about count steps
// (count <= 0: all of them),
// calling fn with each key (under its shard's lock: fn must not call into
// the store). It returns the next cursor, 0 when the scan is complete. A
// cursor is slot*shardCount + shard: every shard in turn, each by slot.
func (s *store) scan(cursor uint64, count int, fn func(key string)) uint64 {
	now := s.now()
	si, slot := int(cursor%shardCount), cursor/shardCount
	found, steps := 0, 0
	for ; si < shardCount; si, slot = si+1, 0 {
		sh := &s.shards[si]
		sh.mu.Lock()
		for ; slot < uint64(len(sh.slots)); slot++ {
			if count > 0 && (found >= count || steps >= 10*count) {
				sh.mu.Unlock()
				return slot*shardCount + uint64(si)
			}
			steps++
			e := sh.slots[slot]
			if e == nil {
				continue
			}
			found++
			if e.exp != 0 && e.exp <= now {
				sh.remove(e)
				sh.expired++
				continue
			}
			fn(e.key)
		}
		sh.mu.Unlock()
	}
	return 0
}

// Active expiry, as Redis does it: every tick, sample keys with an expiry
// in each shard and remove the expired ones; sample again while more than
// a quarter of a sample had expired, within a time budget.
const (
	expiryTick    = 100 * time.Millisecond
	expirySample  = 20
	expiryRounds  = 16                    // per shard per tick
	expiryBudget  = 25 * time.Millisecond // per tick, all shards
	expiryRepeatQ = 4                     // repeat when more than 1/4 expired
)

// startExpiry starts the active-expiry goroutine; stopExpiry ends it.
func (s *store) startExpiry() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(expiryTick)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.expireCycle(time.Now().Add(expiryBudget))
			}
		}
	}()
}

func (s *store) stopExpiry() {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
}

// expireCycle runs one active-expiry pass over every shard.
func (s *store) expireCycle(deadline time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		for range expiryRounds {
			sh.mu.Lock()
			sampled, removed := sh.expireSample(s.now())
			sh.mu.Unlock()
			if sampled == 0 || removed*expiryRepeatQ <= sampled || time.Now().After(deadline) {
				break
			}
		}
	}
}

// expireSample checks up to expirySample random keys with an expiry and
// removes the expired ones. sh must be locked.
func (sh *shard) expireSample(now int64) (sampled, removed int) {
	for range expirySample {
		if len(sh.ttl) == 0 {
			break
		}
		sampled++
		e := sh.ttl[rand.IntN(len(sh.ttl))]
		if e.exp <= now {
			sh.remove(e)
			sh.expired++
			removed++
		}
	}
	return sampled, removed
}
