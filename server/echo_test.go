package server

import (
	"bytes"
	"testing"
)

func TestEchoSmoke(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		_, addr := start(t, echoHandler{}, eng)
		c := dial(t, addr)
		for _, msg := range []string{"a", "hello", string(bytes.Repeat([]byte("x"), 200000))} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			readFull(t, c, got)
			if string(got) != msg {
				t.Fatalf("echo mismatch for %d bytes", len(msg))
			}
		}
	})
}
