//go:build !race

package codec_test

import (
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// TestDecodeZeroAlloc: Decode allocates nothing, for whole frames, partial
// input and hostile input alike (invalid JSON: alloc_sonic_test.go, since
// encoding/json, used where sonic does not build, allocates its errors).
func TestDecodeZeroAlloc(t *testing.T) {
	lines := line("", 64)
	prefixed := lf(lfc{Size: 4, Strip: 4, MaxFrame: 64})
	cases := []struct {
		name string
		dec  codec.Decoder
		in   string
	}{
		{"length field", prefixed, "\x00\x00\x00\x05hello"},
		{"length field, little endian, offset, adjustment", lf(lfc{Offset: 1, Size: 3, LittleEndian: true, Adjustment: -4, Strip: 4}), "T\x09\x00\x00hello"},
		{"length field, partial", prefixed, "\x00\x00\x00\x05hel"},
		{"length field, too large", prefixed, "\xff\xff\xff\xff"},
		{"length field, negative", lf(lfc{Size: 1, Adjustment: -2}), "\x01"},
		{"line", lines, "hello\n"},
		{"line, partial", lines, "hello"},
		{"line, too long", lines, string(make([]byte, 100))},
		{"line, two-byte delimiter", line("\r\n", 64), "hello\r\n"},
		{"line, two-byte delimiter, too long", line("\r\n", 4), "abcd\rx"},
		{"crlf", crlf(64), "hello\r\n"},
		{"crlf, too long", crlf(4), "abcde"},
		{"fixed", fixed(4), "abcd"},
		{"fixed, partial", fixed(4), "abc"},
		{"json", codec.NewJSON(lines, 0), `{"topic":"news","body":"h\u00e9llo","n":[1,2.5,null,true]}` + "\n"},
		{"json, length field", codec.NewJSON(prefixed, 0), "\x00\x00\x00\x02{}"},
		{"json, too large", codec.NewJSON(lines, 4), `"abcd"` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if allocs := testing.AllocsPerRun(100, func() { tc.dec.Decode(in) }); allocs != 0 {
				t.Errorf("Decode(%q) allocates %v times", in, allocs)
			}
		})
	}
}

// TestAppendFrameZeroAlloc: AppendFrame allocates nothing when dst has
// room, on success and on error.
func TestAppendFrameZeroAlloc(t *testing.T) {
	cases := []struct {
		name string
		enc  codec.Encoder
		msg  string
	}{
		{"length field", lf(lfc{Offset: 2, Size: 3, Strip: 5}), "hello"},
		{"length field, too large", lf(lfc{Size: 1, Strip: 1, MaxFrame: 4}), "hello"},
		{"length field, cannot encode", lf(lfc{Size: 1}), "hello"},
		{"line", line("", 0), "hello"},
		{"line, holds the delimiter", line("", 0), "he\nllo"},
		{"crlf", crlf(0), "hello"},
		{"fixed", fixed(5), "hello"},
		{"fixed, other size", fixed(4), "hello"},
		{"json", codec.NewJSON(nil, 0), `{"a":[1,2]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, dst := []byte(tc.msg), make([]byte, 0, 64)
			if allocs := testing.AllocsPerRun(100, func() { tc.enc.AppendFrame(dst, msg) }); allocs != 0 {
				t.Errorf("AppendFrame(%q) allocates %v times", msg, allocs)
			}
		})
	}
}
