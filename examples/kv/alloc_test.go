//go:build !race

package main

import (
	"testing"
)

// TestHotPathZeroAlloc: GET, SET of an existing key (value of a size that
// fits its buffer), INCR, MGET and pipelined PING allocate nothing per
// request, decoding and reply included.
func TestHotPathZeroAlloc(t *testing.T) {
	tk := newTestKV()
	tk.do(encode("SET", "key:__rand_int__", "xxx"))
	tk.do(encode("SET", "counter:__rand_int__", "1"))
	frames := [][]byte{
		encode("GET", "key:__rand_int__"),
		encode("SET", "key:__rand_int__", "yyy"),
		encode("GET", "nokey"),
		encode("INCR", "counter:__rand_int__"),
		encode("MGET", "key:__rand_int__", "nokey"),
		encode("EXISTS", "key:__rand_int__"),
		[]byte("PING\r\n"),
	}
	tk.conn.out = make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		tk.conn.out = tk.conn.out[:0]
		for _, f := range frames {
			tk.h.OnFrame(tk.conn, f)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round of %d requests, want 0", allocs, len(frames))
	}
}
