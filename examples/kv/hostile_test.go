package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/shoalnet/shoal/codec"
)

// TestHostileInput sends what a hostile or broken client might to an
// in-process kv: each connection is closed with a typed reason (after the
// replies to what came before), the server counts it, and a well-behaved
// client is served throughout.
func TestHostileInput(t *testing.T) {
	_, s, addr, events := startInProcess(t)
	good := dialRESP(t, addr)
	if got := good.do("SET", "k", "v"); string(got) != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	garbage := make([]byte, 4096)
	rand.NewChaCha8([32]byte{1}).Read(garbage)
	noNewline := bytes.ReplaceAll(garbage, []byte("\n"), []byte("x"))
	pe := func(reason string) string { return "-ERR Protocol error: " + reason + "\r\n" }

	cases := []struct {
		name   string
		send   []byte
		reply  string // what the server answers before it closes
		reason error  // the close reason, with errors.Is
		decode bool   // rejected by the codec (counted in FrameErrors)
	}{
		{"bulk of 1 GiB", []byte("$1073741824\r\n"), pe("invalid bulk length"), codec.ErrFrameTooLarge, true},
		{"argument of 1 GiB", []byte("*2\r\n$3\r\nGET\r\n$1073741824\r\n"), pe("invalid bulk length"), codec.ErrFrameTooLarge, true},
		{"array of 2^31", []byte("*2147483648\r\n"), pe("invalid multibulk length"), codec.ErrFrameTooLarge, true},
		{"array of 2^31 without CRLF", []byte("*2147483648"), pe("invalid multibulk length"), codec.ErrFrameTooLarge, true},
		{"nested too deep", bytes.Repeat([]byte("*1\r\n"), 100), pe("aggregates nested too deep"), codec.ErrFrameTooLarge, true},
		{"endless inline line", bytes.Repeat([]byte("a"), 1<<20), pe("too big inline request"), codec.ErrFrameTooLarge, true},
		{"garbage without newline", bytes.Repeat(noNewline, 32), pe("too big inline request"), codec.ErrFrameTooLarge, true},
		{"garbage after a type byte", append([]byte("*"), garbage...), pe("invalid multibulk length"), codec.ErrMalformed, true},
		{"bad bulk length", []byte("*1\r\n$abc\r\n"), pe("invalid bulk length"), codec.ErrMalformed, true},
		{"bulk without CRLF", []byte("*1\r\n$4\r\nPINGxx"), pe("expected CRLF"), codec.ErrMalformed, true},
		{"not a command", []byte("*1\r\n:1\r\n"), pe("expected '$', got ':'"), codec.ErrMalformed, false},
		{"unbalanced quotes", []byte("SET \"k v\r\n"), pe("unbalanced quotes in request"), codec.ErrMalformed, false},
		{"answered, then garbage", []byte("PING\r\n*x\r\n"), "+PONG\r\n" + pe("invalid multibulk length"), codec.ErrMalformed, true},
		{"half a frame, then close", []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"), "", io.EOF, false},
	}
	errorsBefore := s.Stats().FrameErrors
	decodeErrors := uint64(0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go c.Write(tc.send) // the server may close before it has read it all
			if tc.reason == io.EOF {
				time.Sleep(50 * time.Millisecond)
				c.(*net.TCPConn).CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if string(got) != tc.reply || err != nil && !isReset(err) {
				t.Errorf("read %q, %v; want %q then the close", got, err, tc.reply)
			}
			c.Close() // the server waits for our FIN before it closes
			if r := waitClose(t, events, c.LocalAddr().String()); !errors.Is(r, tc.reason) {
				t.Errorf("close reason %v, want %v", r, tc.reason)
			}
			if tc.decode {
				decodeErrors++
			}
			if got := good.do("GET", "k"); string(got) != "$1\r\nv\r\n" {
				t.Fatalf("the other client got %q", got)
			}
		})
	}
	if n := s.Stats().FrameErrors - errorsBefore; n < decodeErrors {
		t.Errorf("Stats().FrameErrors grew by %d, want at least %d", n, decodeErrors)
	}
}

// isReset reports a connection reset: a server that closes with unread
// input resets the connection, and the reply may be lost with it.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// TestHostileMemoryBounded: many connections that declare huge values
// cost nothing; many that send part of a large value cost what they sent,
// and that memory is freed when they go.
func TestHostileMemoryBounded(t *testing.T) {
	_, _, addr, events := startInProcess(t)
	good := dialRESP(t, addr)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // pooled buffers survive one collection
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()

	// 200 connections each claim a 1 GiB value: each is closed at once.
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
		c.Close()
		if r := waitClose(t, events, c.LocalAddr().String()); !errors.Is(r, codec.ErrFrameTooLarge) {
			t.Fatalf("reason %v", r)
		}
	}
	afterHuge := heap()

	// 100 connections each start a legal 60 MB value and send 256 KiB of it.
	const sent = 256 << 10
	part := append([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$60000000\r\n"), make([]byte, sent)...)
	var conns []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the server read it all
	if got := good.do("PING"); string(got) != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
	during := heap()
	for _, c := range conns {
		c.Close()
		waitClose(t, events, c.LocalAddr().String())
	}
	after := heap()
	t.Logf("heap in use: %d KiB at start, %d KiB after 200 claims of 1 GiB, %d KiB holding 100 partial values of %d KiB, %d KiB after they closed",
		before>>10, afterHuge>>10, during>>10, sent>>10, after>>10)
	if afterHuge > before+4<<20 {
		t.Errorf("claims of 1 GiB values grew the heap by %d KiB", (afterHuge-before)>>10)
	}
	// The partial values are held (25 MiB); allow for the pooled buffers
	// rounding up to a power of two.
	if during > before+3*100*sent+8<<20 {
		t.Errorf("heap grew by %d MiB for %d MiB of partial input", (during-before)>>20, 100*sent>>20)
	}
	if after > before+8<<20 {
		t.Errorf("heap %d MiB above the start after the connections closed", (after-before)>>20)
	}
	if got := good.do("PING"); string(got) != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
}
