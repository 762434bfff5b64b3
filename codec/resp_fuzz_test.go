package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// respStream is what a connection makes of its input: the frames decoded,
// the error that ended it, and the bytes left undecoded.
type respStream struct {
	frames [][]byte
	err    error
	rest   []byte
}

// decodeRESPStream feeds pieces to r the way a connection buffer does:
// each piece is appended to what is left, and Decode runs until it needs
// more input or fails.
func decodeRESPStream(t *testing.T, r *codec.RESP, pieces ...[]byte) respStream {
	var s respStream
	var buf []byte
	for _, p := range pieces {
		buf = append(buf, p...)
		for len(buf) > 0 {
			frame, n, err := r.Decode(buf)
			if err != nil {
				if n != 0 || frame != nil {
					t.Fatalf("Decode(%q) failed with %v but returned n %d, frame %q", buf, err, n, frame)
				}
				if !errors.Is(err, codec.ErrFrameTooLarge) && !errors.Is(err, codec.ErrMalformed) {
					t.Fatalf("Decode(%q) error %v is neither ErrFrameTooLarge nor ErrMalformed", buf, err)
				}
				s.err, s.rest = err, buf
				return s
			}
			if n == 0 {
				break
			}
			if n < 0 || n > len(buf) || !bytes.Equal(frame, buf[:n]) {
				t.Fatalf("Decode(%q) = %q, %d: the frame is not buf[:n]", buf, frame, n)
			}
			s.frames = append(s.frames, frame)
			buf = buf[n:]
		}
	}
	s.rest = buf
	return s
}

func sameRESPStream(a, b respStream) bool {
	// After an error the input stops being read: how much of it had arrived
	// does not matter.
	if len(a.frames) != len(b.frames) || a.err != b.err || a.err == nil && !bytes.Equal(a.rest, b.rest) {
		return false
	}
	for i := range a.frames {
		if !bytes.Equal(a.frames[i], b.frames[i]) {
			return false
		}
	}
	return true
}

// FuzzRESP decodes the input whole, then split in two at every offset, and
// requires the same frames, error and leftover each time: a value that
// arrives in pieces decodes exactly like one that arrives whole. Every
// frame also goes through ParseCommand, which must not panic. Small limits
// let the fuzzer reach them.
func FuzzRESP(f *testing.F) {
	for _, seed := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n",
		"PING\r\nSET a b\nGET a\r\n\r\n",
		`SET "a b" 'c\'d' "\x41\n"` + "\r\n",
		`SET "unbalanced` + "\n",
		"+OK\r\n-ERR syntax error\r\n:-42\r\n$-1\r\n*-1\r\n$0\r\n\r\n",
		"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
		"_\r\n,1.5\r\n#t\r\n#f\r\n(12345678901234567890\r\n!3\r\nERR\r\n=7\r\ntxt:abc\r\n",
		"%1\r\n+key\r\n~2\r\n:1\r\n:2\r\n>2\r\n+message\r\n$1\r\nx\r\n|1\r\n+ttl\r\n:3\r\n+OK\r\n",
		"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
		"*2147483648\r\n",
		"$1073741824\r\n",
		"*1\r\n$01\r\nx\r\n",
		"$3\r\nfooXY",
		":9223372036854775808\r\n",
		"*1\r\n+PING\r\n",
	} {
		f.Add([]byte(seed))
	}
	configs := []*codec.RESP{
		codec.NewRESP(codec.RESPConfig{}),
		codec.NewRESP(codec.RESPConfig{MaxBulk: 16, MaxArray: 8, MaxInline: 32, MaxDepth: 3}),
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, r := range configs {
			whole := decodeRESPStream(t, r, in)
			// Every offset of inputs up to 2 KiB; past that the check costs the
			// square of the length, so about 1024 offsets spread over it.
			step := max(1, len(in)/1024)
			for i := 1; i < len(in); i += step {
				split := decodeRESPStream(t, r, in[:i], in[i:])
				if !sameRESPStream(whole, split) {
					t.Fatalf("split at %d of %q:\nwhole %q, %v, rest %q\nsplit %q, %v, rest %q",
						i, in, whole.frames, whole.err, whole.rest, split.frames, split.err, split.rest)
				}
			}
			var args [][]byte
			for _, frame := range whole.frames {
				var err error
				args, err = codec.ParseCommand(bytes.Clone(frame), args[:0]) // it may rewrite its frame
				if err != nil && !errors.Is(err, codec.ErrMalformed) {
					t.Fatalf("ParseCommand(%q): %v is not ErrMalformed", frame, err)
				}
			}
		}
	})
}
