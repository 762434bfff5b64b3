package main

import (
	"math"
	"strconv"

	"github.com/shoalnet/shoal/codec"
)

// The string and keyspace commands. Each follows the Redis 7.0 code of the
// same name closely, so that replies, errors included, are the same.

func cmdGet(h *kv, cl *client, args [][]byte) {
	s := h.store
	sh := s.lock(args[1])
	if e := s.live(sh, args[1]); e != nil {
		cl.out = codec.AppendBulk(cl.out, e.val)
		sh.mu.Unlock()
		cl.stats.hits.Add(1)
		return
	}
	sh.mu.Unlock()
	cl.stats.misses.Add(1)
	cl.null()
}

// SET option flags, as in Redis's parseExtendedStringArgumentsOrReply.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setEX
	setPX
	setEXAT
	setPXAT
)

func cmdSet(h *kv, cl *client, args [][]byte) {
	flags := 0
	var expArg []byte
	for j := 3; j < len(args); j++ {
		opt, more := args[j], j < len(args)-1
		switch {
		case equalFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case equalFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case equalFold(opt, "get"):
			flags |= setGet
		case equalFold(opt, "keepttl") && flags&(setEX|setPX|setEXAT|setPXAT) == 0:
			flags |= setKeepTTL
		case equalFold(opt, "ex") && flags&(setKeepTTL|setEXAT|setPX|setPXAT) == 0 && more:
			flags |= setEX
			j++
			expArg = args[j]
		case equalFold(opt, "px") && flags&(setKeepTTL|setEX|setEXAT|setPXAT) == 0 && more:
			flags |= setPX
			j++
			expArg = args[j]
		case equalFold(opt, "exat") && flags&(setKeepTTL|setEX|setPX|setPXAT) == 0 && more:
			flags |= setEXAT
			j++
			expArg = args[j]
		case equalFold(opt, "pxat") && flags&(setKeepTTL|setEX|setEXAT|setPX) == 0 && more:
			flags |= setPXAT
			j++
			expArg = args[j]
		default:
			cl.err(errSyntax)
			return
		}
	}
	s := h.store
	var exp int64 // Unix milliseconds; 0: none
	if flags&(setEX|setPX|setEXAT|setPXAT) != 0 {
		ms, ok := parseInt(expArg)
		if !ok {
			cl.err(errNotInt)
			return
		}
		seconds := flags&(setEX|setEXAT) != 0
		if ms <= 0 || seconds && ms > math.MaxInt64/1000 {
			cl.errExpireTime("set")
			return
		}
		if seconds {
			ms *= 1000
		}
		if flags&(setEX|setPX) != 0 {
			ms += s.now() // wraps on overflow, caught below as in Redis
		}
		if ms <= 0 {
			cl.errExpireTime("set")
			return
		}
		exp = ms
	}
	key := args[1]
	sh := s.lock(key)
	e := s.live(sh, key)
	if flags&setGet != 0 {
		if e == nil {
			cl.null()
		} else {
			cl.bulk(e.val)
		}
	}
	if flags&setNX != 0 && e != nil || flags&setXX != 0 && e == nil {
		sh.mu.Unlock()
		if flags&setGet == 0 {
			cl.null()
		}
		return
	}
	if e == nil {
		e = sh.insert(key)
	}
	e.setVal(args[2])
	if flags&setKeepTTL == 0 {
		sh.setExp(e, exp)
	}
	sh.mu.Unlock()
	if flags&setGet == 0 {
		cl.ok()
	}
}

func cmdGetDel(h *kv, cl *client, args [][]byte) {
	s := h.store
	sh := s.lock(args[1])
	if e := s.live(sh, args[1]); e != nil {
		cl.bulk(e.val)
		sh.remove(e)
	} else {
		cl.null()
	}
	sh.mu.Unlock()
}

func cmdMGet(h *kv, cl *client, args [][]byte) {
	s := h.store
	mask := s.lockMask(args, 1, 1)
	cl.array(len(args) - 1)
	for _, key := range args[1:] {
		if e := s.live(&s.shards[s.shardOf(key)], key); e != nil {
			cl.bulk(e.val)
		} else {
			cl.null()
		}
	}
	s.unlockMask(mask)
}

// cmdMSet sets all its keys at once: it holds the locks of all their
// shards, so no reader sees a part of it.
func cmdMSet(h *kv, cl *client, args [][]byte) {
	if len(args)%2 == 0 {
		cl.errArity("mset")
		return
	}
	s := h.store
	mask := s.lockMask(args, 1, 2)
	for i := 1; i < len(args); i += 2 {
		sh := &s.shards[s.shardOf(args[i])]
		e := s.live(sh, args[i])
		if e == nil {
			e = sh.insert(args[i])
		}
		e.setVal(args[i+1])
		sh.setExp(e, 0)
	}
	s.unlockMask(mask)
	cl.ok()
}

func cmdDel(h *kv, cl *client, args [][]byte) {
	s := h.store
	mask := s.lockMask(args, 1, 1)
	n := 0
	for _, key := range args[1:] {
		sh := &s.shards[s.shardOf(key)]
		if e := s.live(sh, key); e != nil {
			sh.remove(e)
			n++
		}
	}
	s.unlockMask(mask)
	cl.int(int64(n))
}

func cmdExists(h *kv, cl *client, args [][]byte) {
	s := h.store
	mask := s.lockMask(args, 1, 1)
	n := 0
	for _, key := range args[1:] {
		if s.live(&s.shards[s.shardOf(key)], key) != nil {
			n++
		}
	}
	s.unlockMask(mask)
	cl.int(int64(n))
}

func cmdIncr(h *kv, cl *client, args [][]byte) { incrBy(h, cl, args[1], 1) }
func cmdDecr(h *kv, cl *client, args [][]byte) { incrBy(h, cl, args[1], -1) }

func cmdIncrBy(h *kv, cl *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		cl.err(errNotInt)
		return
	}
	incrBy(h, cl, args[1], n)
}

func cmdDecrBy(h *kv, cl *client, args [][]byte) {
	n, ok := parseInt(args[2])
	switch {
	case !ok:
		cl.err(errNotInt)
	case n == math.MinInt64:
		cl.err("ERR decrement would overflow")
	default:
		incrBy(h, cl, args[1], -n)
	}
}

// incrBy adds delta to the integer stored at key (0 if none), keeping the
// key's expiry, as Redis's incrDecrCommand.
func incrBy(h *kv, cl *client, key []byte, delta int64) {
	s := h.store
	sh := s.lock(key)
	defer sh.mu.Unlock()
	e := s.live(sh, key)
	var v int64
	if e != nil {
		var ok bool
		if v, ok = parseInt(e.val); !ok {
			cl.err(errNotInt)
			return
		}
	}
	if delta < 0 && v < 0 && delta < math.MinInt64-v || delta > 0 && v > 0 && delta > math.MaxInt64-v {
		cl.err(errOverflow)
		return
	}
	v += delta
	if e == nil {
		e = sh.insert(key)
	}
	e.val = strconv.AppendInt(e.val[:0], v, 10)
	cl.int(v)
}

// EXPIRE option flags, as in Redis's parseExtendedExpireArgumentsOrReply.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

func cmdExpire(h *kv, cl *client, args [][]byte)  { expire(h, cl, args, "expire", 1000) }
func cmdPExpire(h *kv, cl *client, args [][]byte) { expire(h, cl, args, "pexpire", 1) }

// expire is Redis's expireGenericCommand with the current time as base.
func expire(h *kv, cl *client, args [][]byte, name string, unit int64) {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case equalFold(opt, "nx"):
			flags |= expireNX
		case equalFold(opt, "xx"):
			flags |= expireXX
		case equalFold(opt, "gt"):
			flags |= expireGT
		case equalFold(opt, "lt"):
			flags |= expireLT
		default:
			cl.err("ERR Unsupported option " + string(cString(opt)))
			return
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		cl.err("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		cl.err("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		cl.err(errNotInt)
		return
	}
	if unit == 1000 {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			cl.errExpireTime(name)
			return
		}
		when *= 1000
	}
	s := h.store
	now := s.now()
	if when > math.MaxInt64-now {
		cl.errExpireTime(name)
		return
	}
	when += now
	sh := s.lock(args[1])
	defer sh.mu.Unlock()
	e := s.live(sh, args[1])
	if e == nil {
		cl.int(0)
		return
	}
	cur := e.exp // 0: none, Redis's -1
	switch {
	case flags&expireNX != 0 && cur != 0,
		flags&expireXX != 0 && cur == 0,
		flags&expireGT != 0 && (cur == 0 || when <= cur),
		flags&expireLT != 0 && cur != 0 && when >= cur:
		cl.int(0)
		return
	}
	if when <= now {
		sh.remove(e) // already expired: Redis deletes the key
	} else {
		sh.setExp(e, when)
	}
	cl.int(1)
}

func cmdTTL(h *kv, cl *client, args [][]byte)  { ttl(h, cl, args[1], false) }
func cmdPTTL(h *kv, cl *client, args [][]byte) { ttl(h, cl, args[1], true) }

func ttl(h *kv, cl *client, key []byte, ms bool) {
	s := h.store
	sh := s.lock(key)
	e := s.live(sh, key)
	var exp int64
	if e != nil {
		exp = e.exp
	}
	sh.mu.Unlock()
	switch {
	case e == nil:
		cl.int(-2)
	case exp == 0:
		cl.int(-1)
	default:
		left := max(exp-s.now(), 0)
		if !ms {
			left = (left + 500) / 1000
		}
		cl.int(left)
	}
}

func cmdPersist(h *kv, cl *client, args [][]byte) {
	s := h.store
	sh := s.lock(args[1])
	e := s.live(sh, args[1])
	if e != nil && e.exp != 0 {
		sh.setExp(e, 0)
		cl.int(1)
	} else {
		cl.int(0)
	}
	sh.mu.Unlock()
}

func cmdType(h *kv, cl *client, args [][]byte) {
	s := h.store
	sh := s.lock(args[1])
	e := s.live(sh, args[1])
	sh.mu.Unlock()
	if e != nil {
		cl.simple("string")
	} else {
		cl.simple("none")
	}
}

func cmdKeys(h *kv, cl *client, args [][]byte) {
	pattern := args[1]
	all := len(pattern) == 1 && pattern[0] == '*'
	n := 0
	cl.tmp = cl.tmp[:0]
	h.store.scan(0, 0, func(key string) {
		if all || matchGlob(pattern, []byte(key)) {
			cl.tmp = codec.AppendBulkString(cl.tmp, key)
			n++
		}
	})
	cl.array(n)
	cl.out = append(cl.out, cl.tmp...)
	cl.shrinkTmp()
}

// cmdScan is Redis's SCAN: the cursor, then MATCH, COUNT and TYPE; COUNT
// keys are visited, then filtered.
func cmdScan(h *kv, cl *client, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		cl.err("ERR invalid cursor")
		return
	}
	count := int64(10)
	var pattern, typ []byte
	usePattern, useType := false, false
	for i := 2; i < len(args); i += 2 {
		more := i+1 < len(args)
		switch {
		case equalFold(args[i], "count") && more:
			var ok bool
			if count, ok = parseInt(args[i+1]); !ok {
				cl.err(errNotInt)
				return
			}
			if count < 1 {
				cl.err(errSyntax)
				return
			}
		case equalFold(args[i], "match") && more:
			pattern = args[i+1]
			usePattern = !(len(pattern) == 1 && pattern[0] == '*')
		case equalFold(args[i], "type") && more:
			typ, useType = args[i+1], true
		default:
			cl.err(errSyntax)
			return
		}
	}
	none := useType && !equalFold(typ, "string") // every key is a string
	n := 0
	cl.tmp = cl.tmp[:0]
	next := h.store.scan(cursor, int(min(count, math.MaxInt32)), func(key string) {
		if !none && (!usePattern || matchGlob(pattern, []byte(key))) {
			cl.tmp = codec.AppendBulkString(cl.tmp, key)
			n++
		}
	})
	cl.array(2)
	var num [20]byte
	cl.bulk(strconv.AppendUint(num[:0], next, 10))
	cl.array(n)
	cl.out = append(cl.out, cl.tmp...)
	cl.shrinkTmp()
}

// shrinkTmp drops a large scratch buffer after a large reply.
func (cl *client) shrinkTmp() {
	if cap(cl.tmp) > 64<<10 {
		cl.tmp = nil
	}
}

func cmdDBSize(h *kv, cl *client, args [][]byte) {
	keys, _ := h.store.size()
	cl.int(int64(keys))
}

// cmdFlush is FLUSHDB and FLUSHALL [ASYNC|SYNC]: there is one database.
func cmdFlush(h *kv, cl *client, args [][]byte) {
	if len(args) > 2 || len(args) == 2 && !equalFold(args[1], "sync") && !equalFold(args[1], "async") {
		cl.err(errSyntax)
		return
	}
	s := h.store
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.flush()
		sh.mu.Unlock()
	}
	cl.ok()
}
