//go:build !((amd64 || arm64) && (linux || darwin || windows || freebsd || netbsd || openbsd || dragonfly))

package jsonx

import "encoding/json"

// Marshal encodes v.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v.
func Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
