package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestCEcho compiles the C reference server and checks that it echoes
// every byte: pipelined small messages through the load generator, and a
// 4 MiB blob written while the reply is read, which fills the socket
// buffers and makes the server keep output and wait for EPOLLOUT.
func TestCEcho(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cc is not on PATH, and CI needs it (.ci/run installs gcc)")
		}
		t.Skip("no C compiler")
	}
	p, err := startCEcho(2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()

	res, err := runLoad(loadConfig{addr: p.addr, conns: 4, size: 1024, depth: 16, duration: 200 * time.Millisecond}, func(bool) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.msgs == 0 || res.errors != 0 || res.mismatch != 0 {
		t.Fatalf("%d echoes, %d errors, %d mismatches (first error %v)", res.msgs, res.errors, res.mismatch, res.firstErr)
	}

	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	blob := make([]byte, 4<<20)
	for i := range blob {
		blob[i] = byte(rand.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(blob)
		werr <- err
	}()
	got := make([]byte, len(blob))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, blob) {
		t.Fatal("the 4 MiB echo differs from what was sent")
	}
}
