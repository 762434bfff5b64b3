package main

import (
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
)

// TestREADMEShowsThisMain keeps the README's embedder's main and this
// program, which the build compiles, the same text.
func TestREADMEShowsThisMain(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	body = body[strings.Index(body, "package main"):] // the README block starts there
	if !strings.Contains(string(readme), "```go\n"+body+"```") {
		t.Fatal("README.md does not show examples/minimal/main.go (from `package main` on) in a go block")
	}
}

// TestMinimalServes builds the program, echoes through it and stops it
// with SIGTERM: it drains and exits 0.
func TestMinimalServes(t *testing.T) {
	bin := proctest.Build(t, ".")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := proctest.Start(t, bin, []string{"admin endpoints listening"}, "-addr", addr, "-admin", "127.0.0.1:0")
	var nc net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if nc, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	defer nc.Close()
	nc.Write([]byte("ping"))
	got := make([]byte, 4)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if _, err := io.ReadAll(nc); err != nil { // the drain closes it with a FIN
		t.Fatalf("read to EOF: %v", err)
	}
	nc.Close()
	if code := p.ExitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
}
