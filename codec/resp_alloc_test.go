//go:build !race

package codec_test

import (
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// TestRESPZeroAlloc: the request path (Decode, ParseCommand with a reused
// argument slice, the reply helpers onto a buffer with room) and hostile
// input allocate nothing.
func TestRESPZeroAlloc(t *testing.T) {
	r := codec.NewRESP(codec.RESPConfig{})
	inputs := [][]byte{
		[]byte("*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"),
		[]byte("*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n"),
		[]byte("PING\r\n"),
		[]byte(`SET "a b" 'c\'d' "\x41"` + "\r\n"),
	}
	hostile := [][]byte{
		[]byte("*2147483648\r\n"),
		[]byte("$1073741824\r\n"),
		[]byte("*1\r\n+x\r\n"),
		[]byte("\x00garbage without newline"),
	}
	args := make([][]byte, 0, 8)
	out := make([]byte, 0, 256)
	scratch := make([]byte, 0, 256) // ParseCommand rewrites quoted inline arguments in place
	allocs := testing.AllocsPerRun(100, func() {
		for _, in := range inputs {
			scratch = append(scratch[:0], in...)
			frame, _, err := r.Decode(scratch)
			if err != nil {
				t.Fatal(err)
			}
			args, err = codec.ParseCommand(frame, args[:0])
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, in := range hostile {
			if frame, _, err := r.Decode(in); err == nil {
				codec.ParseCommand(frame, args[:0])
			}
		}
		out = codec.AppendSimple(out[:0], "OK")
		out = codec.AppendBulk(out, args[0])
		out = codec.AppendInt(out, 42)
		out = codec.AppendNull(out)
		out = codec.AppendArrayHeader(out, 2)
		out = codec.AppendDouble(out, 1.5)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}
