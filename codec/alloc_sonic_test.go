//go:build !race && (amd64 || arm64) && (linux || darwin || windows || freebsd || netbsd || openbsd || dragonfly)

package codec_test

import (
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// TestJSONInvalidZeroAlloc: with sonic, rejecting invalid JSON allocates
// nothing either.
func TestJSONInvalidZeroAlloc(t *testing.T) {
	j := codec.NewJSON(nil, 0)
	cases := []struct {
		name string
		in   string
	}{
		{"truncated", `{"a":`},
		{"invalid escape", `"\x"`},
		{"control character", "\"a\x01\""},
		{"two values", "{}{}"},
		{"empty", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame, dst := []byte(tc.in+"\n"), make([]byte, 0, 64)
			if allocs := testing.AllocsPerRun(100, func() { j.Decode(frame) }); allocs != 0 {
				t.Errorf("Decode(%q) allocates %v times", frame, allocs)
			}
			if allocs := testing.AllocsPerRun(100, func() { j.AppendFrame(dst, frame[:len(tc.in)]) }); allocs != 0 {
				t.Errorf("AppendFrame(%q) allocates %v times", tc.in, allocs)
			}
		})
	}
}

// TestJSONAppendMessageAllocs: AppendMessage encodes a struct straight
// into a dst with room, for the framings that allow it. The one
// allocation left is sonic's own (16 bytes in its EncodeInto).
func TestJSONAppendMessageAllocs(t *testing.T) {
	cases := []struct {
		name string
		j    *codec.JSON
	}{
		{"line", codec.NewJSON(line("", 0), 0)},
		{"length field", codec.NewJSON(lf(lfc{Size: 4, Strip: 4}), 0)},
	}
	p := &point{X: 1, Y: 2, Name: "zero"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 0, 256)
			if allocs := testing.AllocsPerRun(1000, func() { tc.j.AppendMessage(dst, p) }); allocs > 1 {
				t.Errorf("AppendMessage allocates %v times; want at most 1", allocs)
			}
		})
	}
}
