package ws

import (
	"bytes"
	"testing"
)

// FuzzFrameReader checks that any stream decodes the same whole, split at
// any point, and byte by byte: the same frames, then the same close code
// or none.
func FuzzFrameReader(f *testing.F) {
	f.Add(false, uint16(0), cat(client(OpText, true, "Hello"), client(OpPing, true, "p"), client(OpClose, true, "\x03\xe8")))
	f.Add(true, uint16(8), cat(client(OpText, false, "fr\xc3"), client(OpPong, true, ""), client(OpContinuation, true, "\xa9")))
	f.Add(false, uint16(3), client(OpBinary, true, "toolong"))
	f.Add(false, uint16(0), client(OpText, true, "\xed\xa0\x80"))
	f.Add(true, uint16(0), AppendHeader(nil, Header{Fin: true, Op: OpBinary, Masked: true, Length: 1 << 20}))
	f.Fuzz(func(t *testing.T, compressed bool, maxFrame uint16, stream []byte) {
		if len(stream) > 4096 {
			return
		}
		reader := func() FrameReader {
			return FrameReader{MaxFrame: int64(maxFrame), MaxMessage: 2 * int64(maxFrame), Compressed: compressed}
		}
		r := reader()
		wantFrames, wantErr := readAll(&r, bytes.Clone(stream), nil)
		check := func(how string, splits []int) {
			r := reader()
			frames, err := readAll(&r, bytes.Clone(stream), splits)
			if (err == nil) != (wantErr == nil) || (err != nil && CloseCode(err) != CloseCode(wantErr)) {
				t.Fatalf("%s: error %v, whole: %v", how, err, wantErr)
			}
			if len(frames) != len(wantFrames) {
				t.Fatalf("%s: %d frames, whole: %d", how, len(frames), len(wantFrames))
			}
			for i := range frames {
				a, b := frames[i], wantFrames[i]
				if a.Header != b.Header || !bytes.Equal(a.Payload, b.Payload) {
					t.Fatalf("%s: frame %d differs: %+v %q, whole: %+v %q", how, i, a.Header, a.Payload, b.Header, b.Payload)
				}
			}
		}
		for s := 1; s < len(stream); s++ {
			check("split", []int{s})
		}
		bytewise := make([]int, 0, len(stream))
		for s := 1; s < len(stream); s++ {
			bytewise = append(bytewise, s)
		}
		check("byte by byte", bytewise)
		for i, fr := range wantFrames { // what the reader lets through obeys the rules
			if fr.Op.IsControl() && (!fr.Fin || len(fr.Payload) > 125) {
				t.Fatalf("frame %d: control frame fin=%v len=%d passed", i, fr.Fin, len(fr.Payload))
			}
		}
	})
}
