//go:build !race

package main

import "testing"

// The servers' parser and the client's response check allocate nothing in
// the steady state (the answers are rebuilt once a second, which
// AllocsPerRun's integer average does not see).
func TestHTTPAllocs(t *testing.T) {
	in := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	out := make([]byte, 0, 4096)
	answers, _, _ := respond(nil, in)
	tests := []struct {
		name string
		f    func()
	}{
		{"respond", func() { respond(out[:0], in) }},
		{"parseHello", func() { parseHello(answers) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run", tt.name, n)
		}
	}
}
