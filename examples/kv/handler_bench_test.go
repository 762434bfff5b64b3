package main

import (
	"strconv"
	"sync"
	"testing"
)

// The benchmarks run requests through OnFrame (parsing, the store, the
// reply) without the network; BenchmarkStoreParallel sets the sharded
// store next to the baseline of one map behind one mutex.

func benchmarkFrame(b *testing.B, setup, frame []byte) {
	tk := newTestKV()
	if setup != nil {
		tk.do(setup)
	}
	tk.conn.out = make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		tk.conn.out = tk.conn.out[:0]
		tk.h.OnFrame(tk.conn, frame)
	}
}

func BenchmarkGet(b *testing.B) {
	benchmarkFrame(b, encode("SET", "key:__rand_int__", "xxx"), encode("GET", "key:__rand_int__"))
}

func BenchmarkSet(b *testing.B) {
	benchmarkFrame(b, nil, encode("SET", "key:__rand_int__", "xxx"))
}

func BenchmarkIncr(b *testing.B) {
	benchmarkFrame(b, nil, encode("INCR", "counter:__rand_int__"))
}

func BenchmarkMSet10(b *testing.B) {
	args := []string{"MSET"}
	for range 10 {
		args = append(args, "key:__rand_int__", "xxx")
	}
	benchmarkFrame(b, nil, encode(args...))
}

func BenchmarkPingInline(b *testing.B) { benchmarkFrame(b, nil, []byte("PING\r\n")) }

// BenchmarkCommandLookup: finding the command of a request ("GET", "set",
// ...) in the command table, next to the baseline of a map by lower-case
// name.
func BenchmarkCommandLookup(b *testing.B) {
	names := [][]byte{[]byte("GET"), []byte("set"), []byte("Incr"), []byte("MSET"), []byte("nope")}
	b.Run("cmdTable", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			commands.lookup(names[i%len(names)])
		}
	})
	b.Run("map-baseline", func(b *testing.B) {
		m := map[string]*command{}
		for _, c := range commands.list {
			m[c.name] = c
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var buf [32]byte
			name := names[i%len(names)]
			for j, c := range name {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[j] = c
			}
			_ = m[string(buf[:len(name)])]
		}
	})
}

// BenchmarkStoreParallel: GET and SET on many keys from every core.
func BenchmarkStoreParallel(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
	}
	b.Run("sharded", func(b *testing.B) {
		s := newStore()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out []byte
			for i := 0; pb.Next(); i++ {
				k := keys[i%len(keys)]
				sh := s.lock(k)
				e := s.live(sh, k)
				if i%4 == 0 {
					if e == nil {
						e = sh.insert(k)
					}
					e.setVal(k)
				} else if e != nil {
					out = append(out[:0], e.val...)
				}
				sh.mu.Unlock()
			}
		})
	})
	b.Run("one-mutex-baseline", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string][]byte{}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out []byte
			for i := 0; pb.Next(); i++ {
				k := keys[i%len(keys)]
				mu.Lock()
				if i%4 == 0 {
					m[string(k)] = append(m[string(k)][:0], k...)
				} else {
					out = append(out[:0], m[string(k)]...)
				}
				mu.Unlock()
			}
		})
	})
}
