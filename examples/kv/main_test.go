package main

import (
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryStopsOnSignal builds kv, serves a client and stops it with
// SIGTERM, then SIGINT: it must exit 0 each time, with its closing log.
func TestBinaryStopsOnSignal(t *testing.T) {
	bin := kvBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			addr := freeAddr(t)
			cmd := exec.Command(bin, "-addr", addr, "-loops", "2", "-admin", "127.0.0.1:0")
			var logs lockedBuffer
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var rc *respConn
			for deadline := time.Now().Add(10 * time.Second); rc == nil; {
				if strings.Contains(logs.String(), "listening") {
					rc = dialRESP(t, addr)
				} else if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no listening log:\n%s", logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := rc.do("SET", "k", "v"); string(got) != "+OK\r\n" {
				t.Fatalf("SET: %q", got)
			}
			cmd.Process.Signal(sig)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %v: %v\n%s", sig, err, logs.String())
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("no exit within 10s of %v", sig)
			}
			if !strings.Contains(logs.String(), "stopped") {
				t.Fatalf("no closing log:\n%s", logs.String())
			}
			if _, err := rc.read(); err != io.EOF && !isReset(err) {
				t.Fatalf("the client's connection after the stop: %v", err)
			}
		})
	}
}
