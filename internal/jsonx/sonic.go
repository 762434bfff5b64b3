//go:build (amd64 || arm64) && (linux || darwin || windows || freebsd || netbsd || openbsd || dragonfly)

package jsonx

import "github.com/bytedance/sonic"

// Marshal encodes v.
func Marshal(v any) ([]byte, error) { return sonic.Marshal(v) }

// Unmarshal decodes data into v.
func Unmarshal(data []byte, v any) error { return sonic.Unmarshal(data, v) }
