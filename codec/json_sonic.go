//go:build (amd64 || arm64) && (linux || darwin || windows || freebsd || netbsd || openbsd || dragonfly)

package codec

import (
	"sync"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/encoder"
)

// The JSON primitives on the platforms sonic supports. json_std.go has
// the same vocabulary over encoding/json for the others.

// jsonUnmarshal decodes data into v. sonic.Unmarshal copies data first,
// so strings in v do not refer to it.
func jsonUnmarshal(data []byte, v any) error { return sonic.Unmarshal(data, v) }

// encodeBufs holds the *[]byte that jsonAppend passes to sonic: a pooled
// one keeps the caller's slice off the heap.
var encodeBufs = sync.Pool{New: func() any { return new([]byte) }}

// jsonAppend appends the encoding of v to dst. On error the returned slice
// still starts with dst's bytes.
func jsonAppend(dst []byte, v any) ([]byte, error) {
	p := encodeBufs.Get().(*[]byte)
	*p = dst
	// NoEncoderNewline matters to sonic's fallback to encoding/json (Go
	// versions sonic does not support yet), which writes a newline.
	err := encoder.EncodeInto(p, v, encoder.NoEncoderNewline)
	dst, *p = *p, nil
	encodeBufs.Put(p)
	return dst, err
}

// jsonValid reports whether data is one JSON value (RFC 8259), surrounded
// by whitespace or not. Like encoding/json.Valid, it does not check that
// strings are valid UTF-8.
func jsonValid(data []byte) bool {
	return sonic.Valid(data) && validStrings(data)
}

// validStrings reports whether the strings of data, whose structure
// sonic.Valid has accepted, hold no raw control character and only the
// escapes of RFC 8259: sonic.Valid checks neither.
//
// Outside strings a valid JSON text holds no '"', so each '"' found there
// opens a string. Where this scan accepts, every escape is a standard one,
// on which it and sonic agree where strings end.
func validStrings(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case !inString:
			inString = c == '"'
		case !jsonStringSpecial[c]:
		case c == '"':
			inString = false
		case c < 0x20:
			return false
		default: // '\\'
			i++
			if i == len(data) {
				return false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) || !jsonHex(data[i+1]) || !jsonHex(data[i+2]) || !jsonHex(data[i+3]) || !jsonHex(data[i+4]) {
					return false
				}
				i += 4
			default:
				return false
			}
		}
	}
	return !inString
}

// jsonStringSpecial marks the bytes a JSON string treats specially: '"',
// '\\' and the control characters, which it must not hold raw.
var jsonStringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func jsonHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
