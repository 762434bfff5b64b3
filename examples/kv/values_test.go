package main

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// TestLargeValuesAndPipelines: values far larger than one read, and long
// pipelines whose frames straddle reads, arrive whole and in order.
func TestLargeValuesAndPipelines(t *testing.T) {
	_, _, addr, _ := startInProcess(t)
	rc := dialRESP(t, addr)
	rng := rand.NewChaCha8([32]byte{2})
	for _, size := range []int{64<<10 - 1, 64 << 10, 1 << 20, 5<<20 + 3} {
		val := make([]byte, size)
		rng.Read(val)
		if got := rc.do("SET", "big", string(val)); string(got) != "+OK\r\n" {
			t.Fatalf("SET of %d bytes: %.100q", size, got)
		}
		want := codec.AppendBulk(nil, val)
		if got := rc.do("GET", "big"); !bytes.Equal(got, want) {
			t.Fatalf("GET of %d bytes: %d bytes back", size, len(got))
		}
	}
	var pipe, want []byte
	for i := range 2000 {
		v := strconv.Itoa(i) + string(bytes.Repeat([]byte{'x'}, i%300))
		pipe = append(pipe, encode("SET", "p:"+strconv.Itoa(i), v)...)
		pipe = append(pipe, encode("GET", "p:"+strconv.Itoa(i))...)
		want = append(want, "+OK\r\n"...)
		want = codec.AppendBulkString(want, v)
	}
	go rc.c.Write(pipe) // 700 KB in one write: many reads on the server
	var got []byte
	for range 4000 {
		got = append(got, rc.mustRead()...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pipelined replies differ (%d bytes, want %d)", len(got), len(want))
	}
}
