package ws

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/shoalnet/shoal/http1"
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func TestMaskEveryOffset(t *testing.T) {
	src := make([]byte, 67)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for pos := range 8 {
		for n := range len(src) {
			got := bytes.Clone(src[:n])
			Mask(testMask, pos, got)
			for i := range n {
				if want := src[i] ^ testMask[(pos+i)%4]; got[i] != want {
					t.Fatalf("pos %d len %d byte %d: %#x, want %#x", pos, n, i, got[i], want)
				}
			}
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, l := range []uint64{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 1 << 40} {
		for _, masked := range []bool{false, true} {
			h := Header{Fin: l%2 == 0, RSV: 4, Op: OpBinary, Masked: masked, Length: l}
			if masked {
				h.Mask = testMask
			}
			b := AppendHeader(nil, h)
			for cut := range len(b) {
				if _, n, err := ParseHeader(b[:cut]); n != 0 || err != nil {
					t.Fatalf("length %d cut at %d: n=%d err=%v", l, cut, n, err)
				}
			}
			got, n, err := ParseHeader(b)
			if err != nil || n != len(b) || got != h {
				t.Fatalf("length %d masked %v: %+v n=%d err=%v, want %+v n=%d", l, masked, got, n, err, h, len(b))
			}
		}
	}
	if _, _, err := ParseHeader([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("length with its top bit: %v, want 1002", err)
	}
}

// readAll feeds stream to a reader split at the given points, as the
// loop would (the unconsumed rest kept and extended), and returns the
// frames (payload copies) and the error that ended it.
func readAll(r *FrameReader, stream []byte, splits []int) ([]Frame, error) {
	var frames []Frame
	var buf []byte
	prev := 0
	for _, s := range append(splits, len(stream)) {
		buf = append(buf, stream[prev:s]...)
		prev = s
		for {
			f, n, err := r.Next(buf)
			if err != nil {
				return frames, err
			}
			if n == 0 {
				break
			}
			f.Payload = bytes.Clone(f.Payload)
			frames = append(frames, f)
			buf = buf[n:]
		}
	}
	return frames, nil
}

func client(op Opcode, fin bool, payload string) []byte {
	return AppendMaskedFrame(nil, op, fin, testMask, []byte(payload))
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestReaderMessages(t *testing.T) {
	stream := cat(
		client(OpText, true, "Hello, wörld"),
		client(OpBinary, true, ""),
		client(OpText, false, "fr\xc3"), // a code point split across fragments
		client(OpPing, true, "between"),
		client(OpContinuation, false, ""),
		client(OpContinuation, true, "\xa9ag"),
		client(OpText, true, ""),
		AppendMaskedFrame(nil, OpClose, true, testMask, []byte("\x03\xe8bye")),
	)
	want := []struct {
		op      Opcode
		fin     bool
		payload string
	}{
		{OpText, true, "Hello, wörld"}, {OpBinary, true, ""}, {OpText, false, "fr\xc3"}, {OpPing, true, "between"},
		{OpContinuation, false, ""}, {OpContinuation, true, "\xa9ag"}, {OpText, true, ""}, {OpClose, true, "\x03\xe8bye"},
	}
	for split := range len(stream) + 1 {
		var r FrameReader
		frames, err := readAll(&r, bytes.Clone(stream), []int{split})
		if err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		if len(frames) != len(want) {
			t.Fatalf("split %d: %d frames, want %d", split, len(frames), len(want))
		}
		for i, w := range want {
			f := frames[i]
			if f.Op != w.op || f.Fin != w.fin || string(f.Payload) != w.payload {
				t.Fatalf("split %d frame %d: %v fin=%v %q, want %v fin=%v %q", split, i, f.Op, f.Fin, f.Payload, w.op, w.fin, w.payload)
			}
		}
		if code, reason := frames[7].CloseCode(); code != 1000 || string(reason) != "bye" {
			t.Fatalf("close: %d %q", code, reason)
		}
	}
}

func TestReaderViolations(t *testing.T) {
	unmasked := AppendFrame(nil, OpText, true, []byte("hi"))
	withRSV := func(b []byte, rsv byte) []byte { b[0] |= rsv << 4; return b }
	big := AppendHeader(nil, Header{Fin: true, Op: OpBinary, Masked: true, Length: DefaultMaxFrame + 1})
	for _, c := range []struct {
		name   string
		stream []byte
		r      FrameReader
		code   int
	}{
		{"unmasked client frame", unmasked, FrameReader{}, 1002},
		{"masked server frame", client(OpText, true, "hi"), FrameReader{FromServer: true}, 1002},
		{"reserved opcode 3", client(3, true, ""), FrameReader{}, 1002},
		{"reserved opcode 11", client(11, true, ""), FrameReader{}, 1002},
		{"RSV1 without deflate", withRSV(client(OpText, true, "x"), 4), FrameReader{}, 1002},
		{"RSV2 with deflate", withRSV(client(OpText, true, "x"), 2), FrameReader{Compressed: true}, 1002},
		{"RSV1 on a ping", withRSV(client(OpPing, true, ""), 4), FrameReader{Compressed: true}, 1002},
		{"RSV1 on a continuation", cat(client(OpText, false, ""), withRSV(client(OpContinuation, true, ""), 4)), FrameReader{Compressed: true}, 1002},
		{"fragmented ping", client(OpPing, false, ""), FrameReader{}, 1002},
		{"ping over 125", client(OpPing, true, string(make([]byte, 126))), FrameReader{}, 1002},
		{"continuation first", client(OpContinuation, true, "x"), FrameReader{}, 1002},
		{"text inside a message", cat(client(OpText, false, "a"), client(OpText, true, "b")), FrameReader{}, 1002},
		{"frame over MaxFrame", big, FrameReader{}, 1009},
		{"frame over a set MaxFrame", client(OpBinary, true, "12345"), FrameReader{MaxFrame: 4}, 1009},
		{"message over MaxMessage", cat(client(OpBinary, false, "123"), client(OpContinuation, true, "45")), FrameReader{MaxMessage: 4}, 1009},
		{"bad UTF-8", client(OpText, true, "a\xffb"), FrameReader{}, 1007},
		{"surrogate", client(OpText, true, "\xed\xa0\x80"), FrameReader{}, 1007},
		{"text ends in a code point", client(OpText, true, "a\xc3"), FrameReader{}, 1007},
		{"fragments end in a code point", cat(client(OpText, false, "a"), client(OpContinuation, true, "\xe2\x82")), FrameReader{}, 1007},
		{"close with 1 byte", client(OpClose, true, "\x03"), FrameReader{}, 1002},
		{"close 1005", client(OpClose, true, "\x03\xed"), FrameReader{}, 1002},
		{"close 999", client(OpClose, true, "\x03\xe7"), FrameReader{}, 1002},
		{"close 5000", client(OpClose, true, "\x13\x88"), FrameReader{}, 1002},
		{"close reason not UTF-8", client(OpClose, true, "\x03\xe8\xff"), FrameReader{}, 1007},
	} {
		for split := range len(c.stream) + 1 {
			r := c.r
			_, err := readAll(&r, bytes.Clone(c.stream), []int{split})
			if err == nil || CloseCode(err) != c.code {
				t.Fatalf("%s (split %d): %v, want close %d", c.name, split, err, c.code)
			}
		}
	}
}

// A bad byte fails the message as soon as it arrives, before the rest of
// the frame (Autobahn 6.4).
func TestReaderUTF8FailsFast(t *testing.T) {
	payload := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80" + string(make([]byte, 1000))
	stream := client(OpText, true, payload)
	var r FrameReader
	bad := 8 + 12 // the header (16-bit length, mask), κόσμε, and F4: the next byte, 90, is past U+10FFFF
	if _, n, err := r.Next(stream[:bad]); n != 0 || err != nil {
		t.Fatalf("before the bad byte: n=%d err=%v", n, err)
	}
	if _, _, err := r.Next(stream[:bad+1]); CloseCode(err) != 1007 {
		t.Fatalf("at the bad byte: %v, want 1007", err)
	}
}

func TestCloseCodes(t *testing.T) {
	for _, c := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		if !ValidCloseCode(c) {
			t.Errorf("%d should be valid", c)
		}
	}
	for _, c := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		if ValidCloseCode(c) {
			t.Errorf("%d should be invalid", c)
		}
	}
	long := string(bytes.Repeat([]byte("é"), 100))
	f := AppendClose(nil, 1001, long)
	h, n, _ := ParseHeader(f)
	if h.Length > 125 || !utf8.Valid(f[n+2:]) {
		t.Fatalf("close reason not cut to 125 bytes on a code point: %d bytes", h.Length)
	}
	if got := AppendClose(nil, CloseNoStatus, "x"); !bytes.Equal(got, []byte{0x88, 0}) {
		t.Fatalf("close without status: %x", got)
	}
}

func TestUTF8StateEverySplit(t *testing.T) {
	for _, s := range []string{
		"", "ascii only", "κόσμε", "\xf0\x9f\x98\x80 emoji", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
		"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5", "\x80", "a\xc3", "\xe2\x82",
		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
	} {
		want := utf8.ValidString(s)
		for i := 0; i <= len(s); i++ {
			for j := i; j <= len(s); j++ {
				var st utf8State
				ok := st.feed([]byte(s[:i])) && st.feed([]byte(s[i:j])) && st.feed([]byte(s[j:])) && st.complete()
				if ok != want {
					t.Fatalf("%q split at %d,%d: %v, want %v", s, i, j, ok, want)
				}
			}
		}
	}
}

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey([]byte("dGhlIHNhbXBsZSBub25jZQ==")); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" { // RFC 6455 1.3
		t.Fatalf("AcceptKey: %s", got)
	}
}

func TestCheckUpgrade(t *testing.T) {
	const ok = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"
	parse := func(s string) *http1.Request {
		var req http1.Request
		if _, err := new(http1.Parser).Head([]byte(s), &req); err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		return &req
	}
	r := parse(ok)
	key, err := CheckUpgrade(r)
	if err != nil || string(key) != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Fatalf("CheckUpgrade: %q %v", key, err)
	}
	if p := Subprotocols(r); len(p) != 2 || string(p[0]) != "chat" || string(p[1]) != "superchat" {
		t.Fatalf("Subprotocols: %q", p)
	}
	for _, c := range []struct {
		from, to string
		status   int
	}{
		{"GET /chat", "POST /chat", 405},
		{"HTTP/1.1\r\n", "HTTP/1.0\r\n", 400},
		{"Upgrade: WebSocket", "Upgrade: h2c", 400},
		{"keep-alive, Upgrade", "keep-alive", 400},
		{"Version: 13", "Version: 8", 426},
		{"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ", 400},
		{"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZXh4eA==", 400},
	} {
		var he *HandshakeError
		_, err := CheckUpgrade(parse(replace(ok, c.from, c.to)))
		if !errors.As(err, &he) || he.Status != c.status {
			t.Errorf("%q → %q: %v, want status %d", c.from, c.to, err, c.status)
		}
	}
}

func replace(s, from, to string) string {
	return string(bytes.Replace([]byte(s), []byte(from), []byte(to), 1))
}
