package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/push/client"
)

// TestPushBinary builds the server, publishes through it and stops it with
// SIGTERM: it must exit 0.
func TestPushBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "push")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cmd := exec.Command(bin, "-addr", addr, "-loops", "2")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := bufio.NewReader(stderr)
	line, err := logs.ReadString('\n')
	if err != nil || !strings.Contains(line, "listening") {
		t.Fatalf("first log line %q, %v", line, err)
	}
	logDone := make(chan struct{})
	go func() {
		io.Copy(os.Stderr, logs)
		close(logDone)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := sub.Subscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if n, err := pub.Publish(ctx, "news", []byte("hello")); n != 1 || err != nil {
		t.Fatalf("Publish: %d, %v", n, err)
	}
	if m := <-sub.Messages(); string(m.Payload) != "hello" {
		t.Fatalf("message %+v", m)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		<-logDone // Wait closes the pipe: read it to the end first
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
	<-sub.Done() // the server closed the connections on its way out
}
