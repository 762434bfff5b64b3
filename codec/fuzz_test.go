package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/shoalnet/shoal/codec"
)

// maxFuzzInput bounds the inputs the fuzz targets decode: each is decoded
// once whole and once per split offset. The targets' limits are small so
// that the fuzzer reaches them with inputs of this size.
const maxFuzzInput = 1 << 10

// frameStream is what a connection makes of its input: the frames decoded
// (views into buffers feedDecoder never reuses), the bytes they span, and
// the error that ended the stream.
type frameStream struct {
	frames   [][]byte
	consumed int
	err      error
}

func (s frameStream) String() string {
	return fmt.Sprintf("frames %q, consumed %d, err %v", s.frames, s.consumed, s.err)
}

func (s frameStream) equal(o frameStream) bool {
	return s.consumed == o.consumed && fmt.Sprint(s.err) == fmt.Sprint(o.err) &&
		slicesEqual(s.frames, o.frames)
}

func slicesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// feedDecoder hands pieces to dec the way a connection buffer does: each
// piece is appended to what is left unconsumed (moved to a fresh buffer,
// as the server moves an unfinished frame to a per-connection buffer), and
// Decode runs until it needs more input or fails. It checks the Decode
// contract on every call: 0 <= n <= len(buf); a frame only with n > 0;
// the frame, capacity included, within buf[:n] and at most maxFrame
// bytes; no frame and n == 0 with an error, which is ErrFrameTooLarge or
// ErrMalformed.
func feedDecoder(t *testing.T, dec codec.Decoder, maxFrame int, pieces ...[]byte) frameStream {
	t.Helper()
	var s frameStream
	var pending []byte
	for _, p := range pieces {
		buf := append(bytes.Clone(pending), p...)
		off := 0
		for off < len(buf) {
			b := buf[off:]
			frame, n, err := dec.Decode(b)
			switch {
			case err != nil && (n != 0 || frame != nil):
				t.Fatalf("Decode(%q) = %q, %d, %v: a frame with an error", b, frame, n, err)
			case err != nil && !errors.Is(err, codec.ErrFrameTooLarge) && !errors.Is(err, codec.ErrMalformed):
				t.Fatalf("Decode(%q): error %v is neither ErrFrameTooLarge nor ErrMalformed", b, err)
			case err != nil:
				s.consumed += off
				s.err = err
				return s
			case n < 0 || n > len(b):
				t.Fatalf("Decode(%q) = %q, %d: n out of range", b, frame, n)
			case n == 0 && frame != nil:
				t.Fatalf("Decode(%q) = %q, 0: a frame with n == 0", b, frame)
			case n > 0 && !within(frame, b, n):
				t.Fatalf("Decode(%q) = %q, %d: the frame (cap %d) is not within buf[:n]", b, frame, n, cap(frame))
			case len(frame) > maxFrame:
				t.Fatalf("Decode(%q) = %d bytes, %d: above the limit %d", b, len(frame), n, maxFrame)
			}
			if n == 0 {
				break
			}
			s.frames = append(s.frames, frame)
			off += n
		}
		s.consumed += off
		pending = buf[off:]
	}
	return s
}

// within reports whether frame, up to its capacity, lies in b[:n], so a
// handler that appends to it cannot overwrite the next frame.
func within(frame, b []byte, n int) bool {
	if cap(frame) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(frame))) - uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return start <= uintptr(n) && start+uintptr(cap(frame)) <= uintptr(n)
}

// checkSplits decodes in whole, then split in two at every offset, and
// requires the same frames, consumed bytes and error each time: a frame
// that arrives in pieces decodes exactly like one that arrives whole. It
// returns the whole stream.
func checkSplits(t *testing.T, dec codec.Decoder, maxFrame int, in []byte) frameStream {
	t.Helper()
	whole := feedDecoder(t, dec, maxFrame, in)
	for i := 0; i <= len(in); i++ {
		split := feedDecoder(t, dec, maxFrame, in[:i], in[i:])
		if !split.equal(whole) {
			t.Fatalf("input %q split at %d:\nwhole: %v\nsplit: %v", in, i, whole, split)
		}
	}
	return whole
}

// checkRoundTrip requires cd to encode each frame and decode it back.
func checkRoundTrip(t *testing.T, cd codec.Codec, frames [][]byte) {
	t.Helper()
	for _, f := range frames {
		wire, err := cd.AppendFrame(nil, f)
		if err != nil {
			t.Fatalf("AppendFrame(%q) of a decoded frame: %v", f, err)
		}
		got, n, err := cd.Decode(wire)
		if !bytes.Equal(got, f) || n != len(wire) || err != nil {
			t.Fatalf("Decode(AppendFrame(%q) = %q) = %q, %d, %v", f, wire, got, n, err)
		}
	}
}

var lengthFieldSizes = [...]int{1, 2, 3, 4, 8}

// FuzzLengthField fuzzes the configuration with the input: an offset up
// to 7, every field size and byte order, adjustments of -128..127, strips
// up to 15, MaxFrame up to 65535 (0: the default).
func FuzzLengthField(f *testing.F) {
	for _, seed := range []struct {
		offset, size uint8
		little       bool
		adj          int8
		strip        uint8
		max          uint16
		in           string
	}{
		{0, 1, false, 0, 2, 0, "\x00\x0cHELLO, WORLD\x00\x00"},
		{0, 1, false, -2, 0, 0, "\x00\x0eHELLO, WORLD"},
		{2, 2, false, 0, 0, 0, "\xca\xfe\x00\x00\x0cHELLO, WORLD"},
		{0, 2, false, 2, 0, 0, "\x00\x00\x0c\xca\xfeHELLO, WORLD"},
		{1, 1, false, 1, 3, 0, "\xca\x00\x0c\xfeHELLO, WORLD"},
		{1, 1, false, -3, 3, 0, "\xca\x00\x10\xfeHELLO, WORLD\xca\x00\x03"},
		{0, 0, false, 0, 1, 8, "\x03abc\x07abcdefg\x00"},
		{0, 3, true, 0, 4, 100, "\x03\x00\x00\x00abc\x01\x00\x00\x00x"},
		{0, 4, false, 0, 8, 0, "\x00\x00\x00\x00\x00\x00\x00\x02ab\xff\xff\xff\xff\xff\xff\xff\xff"},
		{0, 4, true, -8, 0, 0, "\x0a\x00\x00\x00\x00\x00\x00\x00ab"},
		{3, 0, false, -5, 15, 32, "abc\x01"},
	} {
		f.Add(seed.offset, seed.size, seed.little, seed.adj, seed.strip, seed.max, []byte(seed.in))
	}
	f.Fuzz(func(t *testing.T, offset, size uint8, little bool, adj int8, strip uint8, maxFrame uint16, in []byte) {
		if len(in) > maxFuzzInput {
			return
		}
		cfg := codec.LengthFieldConfig{
			Offset:       int(offset % 8),
			Size:         lengthFieldSizes[int(size)%len(lengthFieldSizes)],
			LittleEndian: little,
			Adjustment:   int(adj),
			Strip:        int(strip % 16),
			MaxFrame:     int(maxFrame),
		}
		l, err := codec.NewLengthField(cfg)
		if err != nil {
			return
		}
		limit := cfg.MaxFrame
		if limit == 0 {
			limit = codec.DefaultLengthFieldMaxFrame
		}
		s := checkSplits(t, l, limit, in)
		if cfg.Strip == cfg.Offset+cfg.Size {
			checkRoundTrip(t, l, s.frames)
		}
	})
}

// FuzzLine fuzzes the delimiter (up to 4 bytes), the CRLF mode and the
// line limit (up to 255; 0: the default) with the input.
func FuzzLine(f *testing.F) {
	for _, seed := range []struct {
		delim string
		crlf  bool
		max   uint8
		in    string
	}{
		{"\n", false, 0, "hello\nworld\n\npartial"},
		{"\n", false, 4, "abcd\nabcde\n"},
		{"\r\n", false, 4, "ab\r\ncd\r\rabcd\r"},
		{"aab", false, 2, "xaaab"},
		{"||", false, 3, "a||b|||c"},
		{"\n", true, 4, "ab\r\ncd\nabcd\r\nabcd\r"},
		{"\n", true, 2, "a\r\r\n\r\n\n"},
	} {
		f.Add([]byte(seed.delim), seed.crlf, seed.max, []byte(seed.in))
	}
	f.Fuzz(func(t *testing.T, delim []byte, crlf bool, maxLine uint8, in []byte) {
		if len(in) > maxFuzzInput || len(delim) > 4 {
			return
		}
		l, err := codec.NewLine(delim, int(maxLine))
		if crlf {
			l, err = codec.NewLineCRLF(int(maxLine))
		}
		if err != nil {
			t.Fatalf("NewLine(%q, %d): %v", delim, maxLine, err)
		}
		limit := int(maxLine)
		if limit == 0 {
			limit = codec.DefaultMaxLine
		}
		checkRoundTrip(t, l, checkSplits(t, l, limit, in).frames)
	})
}

// FuzzFixed fuzzes the frame size (1 to 255; 0 is refused) with the input.
func FuzzFixed(f *testing.F) {
	f.Add(uint8(4), []byte("abcdefghij"))
	f.Add(uint8(1), []byte("xy"))
	f.Add(uint8(0), []byte("x"))
	f.Fuzz(func(t *testing.T, size uint8, in []byte) {
		if len(in) > maxFuzzInput {
			return
		}
		fx, err := codec.NewFixed(int(size))
		if (err != nil) != (size == 0) {
			t.Fatalf("NewFixed(%d): %v", size, err)
		}
		if err != nil {
			return
		}
		s := checkSplits(t, fx, int(size), in)
		if want := len(in) / int(size); len(s.frames) != want || s.err != nil {
			t.Fatalf("%d bytes in frames of %d: %v; want %d frames", len(in), size, s, want)
		}
		checkRoundTrip(t, fx, s.frames)
	})
}

// FuzzJSON fuzzes newline-delimited and length-prefixed JSON with a
// message limit (up to 255; 0: the framing's limit of 256). Every frame it
// decodes must be valid JSON for encoding/json too, and the input taken
// as one message must be valid for both or for neither.
func FuzzJSON(f *testing.F) {
	for _, seed := range []struct {
		prefixed bool
		max      uint8
		in       string
	}{
		{false, 0, "{\"a\":1}\n[1,2,3]\n\"s\"\n-1.5e3\nnull\ntrue\n"},
		{false, 0, "{\"a\":\"\\u00e9\\n\\\"\"}\n {} \n"},
		{false, 8, "{\"x\":12}\n{\"x\":123}\n"},
		{false, 0, "{\"a\":\n"},
		{false, 0, "\"a\x01b\"\n"},
		{false, 0, "\"\\x\"\n"},
		{false, 0, "\"\\u12\"\n"},
		{false, 0, "[1,]\n"},
		{false, 0, "{}{}\n"},
		{false, 0, "\n"},
		{false, 0, "\"\xff\xfe\"\n"},
		{true, 0, "\x00\x07{\"x\":1}\x00\x02[]"},
		{true, 0, "\x00\x02{]"},
		{true, 0, "\x01\x01"},
	} {
		f.Add(seed.prefixed, seed.max, []byte(seed.in))
	}
	lines := must(codec.NewLine(nil, 256))
	prefix := must(codec.NewLengthField(codec.LengthFieldConfig{Size: 2, Strip: 2, MaxFrame: 258}))
	f.Fuzz(func(t *testing.T, prefixed bool, maxMessage uint8, in []byte) {
		if len(in) > maxFuzzInput {
			return
		}
		framing := codec.Codec(lines)
		if prefixed {
			framing = prefix
		}
		j := codec.NewJSON(framing, int(maxMessage))
		limit := int(maxMessage)
		if limit == 0 {
			limit = 256
		}
		s := checkSplits(t, j, limit, in)
		for _, frame := range s.frames {
			if !json.Valid(frame) {
				t.Fatalf("Decode returned %q, which encoding/json finds invalid", frame)
			}
		}
		checkRoundTrip(t, j, s.frames)
		for _, frame := range s.frames {
			// A value sonic reads back must encode into a message Decode
			// accepts, unless its new encoding is over the limit.
			var v any
			if j.Unmarshal(frame, &v) != nil {
				continue
			}
			wire, err := j.AppendMessage(nil, v)
			if errors.Is(err, codec.ErrMessageTooLarge) {
				continue
			}
			if _, n, derr := j.Decode(wire); err != nil || derr != nil || n != len(wire) {
				t.Fatalf("AppendMessage(Unmarshal(%q)) = %q, %v; Decode: %d, %v", frame, wire, err, n, derr)
			}
		}
		if len(in) == 0 {
			return
		}
		_, _, err := codec.NewJSON(must(codec.NewFixed(len(in))), 0).Decode(in)
		if (err == nil) != json.Valid(in) {
			t.Fatalf("%q: Decode error %v, but encoding/json.Valid = %v", in, err, json.Valid(in))
		}
	})
}
