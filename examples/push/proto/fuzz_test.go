package proto

import (
	"bytes"
	"testing"
)

// FuzzBody decodes arbitrary bodies: Decode must never panic, and every body
// it accepts must encode back to exactly its bytes (the encoding is
// canonical), with slices that stay inside the input.
func FuzzBody(f *testing.F) {
	for _, tc := range validBodies {
		f.Add(tc.wire)
	}
	f.Add([]byte{})
	f.Add([]byte{0x03, 0, 0, 0, 1, 0xff})
	f.Add([]byte{0x82, 0, 0, 0, 1, 0})
	f.Add(AppendGoAway(nil, 1000, "127.0.0.1:9100"))
	f.Add([]byte{0x85, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := Decode(in)
		if err != nil {
			return
		}
		out, err := AppendBody(nil, &b)
		if err != nil {
			t.Fatalf("AppendBody of decoded %+v: %v", b, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip changed the body:\n in  %x\n out %x", in, out)
		}
		again, err := Decode(out)
		if err != nil || !equalBody(again, b) {
			t.Fatalf("decoding the re-encoded body: %+v, %v; want %+v", again, err, b)
		}
		if len(b.Topic) > MaxTopic {
			t.Fatalf("decoded a topic of %d bytes", len(b.Topic))
		}
	})
}
