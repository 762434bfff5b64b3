//go:build !race

package proto

import "testing"

// The decode path and the reply encoders do not allocate.
func TestZeroAlloc(t *testing.T) {
	pub := validBodies[3].wire
	buf := make([]byte, 0, 64)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Decode", func() { Decode(pub) }},
		{"AppendAck", func() { buf = AppendAck(buf[:0], 1, TypeSub, 2) }},
		{"AppendErr", func() { buf = AppendErr(buf[:0], 1, CodeBadTopic, "bad topic") }},
		{"AppendPong", func() { buf = AppendPong(buf[:0], 1, 2) }},
		{"AppendGoAway", func() { buf = AppendGoAway(buf[:0], 1000, "127.0.0.1:9100") }},
		{"ValidTopic", func() { ValidTopic(pub[6:10]) }},
	} {
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
