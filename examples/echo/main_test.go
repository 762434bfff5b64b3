package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEchoBinary builds the example, echoes through it and stops it with
// SIGTERM: it must exit 0.
func TestEchoBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "echo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cmd := exec.Command(bin, "-addr", addr, "-loops", "2", "-admin", "127.0.0.1:0")
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
	line, err = logs.ReadString('\n')
	adminAddr := ""
	if i := strings.Index(line, "addr="); err == nil && strings.Contains(line, "admin") && i > 0 {
		adminAddr = strings.TrimSpace(line[i+len("addr="):])
	}
	if adminAddr == "" {
		t.Fatalf("admin log line %q, %v", line, err)
	}
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + adminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "shoal_connections") { // once Serve has started the loops
			break
		}
	}
	if !strings.Contains(string(body), "shoal_connections") {
		t.Fatalf("/metrics without shoal metrics:\n%.300s", body)
	}

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello, shoal"))
	got := make([]byte, 12)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello, shoal" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()

	cmd.Process.Signal(syscall.SIGTERM)
	go io.Copy(os.Stderr, logs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
}
