//go:build !((amd64 || arm64) && (linux || darwin || windows || freebsd || netbsd || openbsd || dragonfly))

package codec

import (
	"bytes"
	"encoding/json"
)

// The JSON primitives where sonic does not build (it refuses 32-bit
// platforms) or would fall back to encoding/json anyway. json_sonic.go has
// the same vocabulary over sonic.

// jsonUnmarshal decodes data into v; strings in v do not refer to data.
func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// jsonAppend appends the encoding of v to dst. On error the returned slice
// still starts with dst's bytes.
func jsonAppend(dst []byte, v any) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false) // as sonic's default
	err := enc.Encode(v)
	out := b.Bytes()
	if err == nil {
		out = out[:len(out)-1] // Encode's newline
	}
	return out, err
}

// jsonValid reports whether data is one JSON value (RFC 8259), surrounded
// by whitespace or not. It does not check that strings are valid UTF-8.
func jsonValid(data []byte) bool { return json.Valid(data) }
