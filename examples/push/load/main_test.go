package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer builds and runs the push server until the test ends.
func startServer(t *testing.T) (addr string, pid int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "push")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-addr", addr, "-loops", "2", "-admin=")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := bufio.NewReader(stderr)
	if line, err := logs.ReadString('\n'); err != nil || !strings.Contains(line, "listening") {
		cmd.Process.Kill()
		t.Fatalf("first log line %q, %v", line, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		io.Copy(io.Discard, logs)
		if err := cmd.Wait(); err != nil {
			t.Errorf("server exit: %v", err)
		}
	})
	return addr, cmd.Process.Pid
}

// TestLoadRun runs a small load: three topics, two publishers, subscribers
// over eight source addresses. Every message must arrive, once, in order.
func TestLoadRun(t *testing.T) {
	addr, pid := startServer(t)
	cfg := defaultConfig()
	cfg.addr, cfg.serverPID = addr, pid
	cfg.subs, cfg.pubs, cfg.topics = 60, 2, 3
	cfg.rate, cfg.duration, cfg.drain = 100, 500*time.Millisecond, 10*time.Second
	cfg.readBuf = 64 // smaller than a message: the buffers must grow
	res, err := run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.print(&out, cfg)
	if !res.ok() || res.expected == 0 || res.e2e.TotalCount() != int64(res.expected) {
		t.Fatalf("load run failed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| delivered | "+grouped(res.expected)+" |") {
		t.Fatalf("report without the delivered count:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestConfigValidate(t *testing.T) {
	for _, mod := range []func(*config){
		func(c *config) { c.pubs = 0 },
		func(c *config) { c.topics = 0 },
		func(c *config) { c.rate = 0 },
		func(c *config) { c.size = stampSize - 1 },
		func(c *config) { c.srcIPs = 0 },
		func(c *config) { c.dialWorkers = 0 },
	} {
		cfg := defaultConfig()
		mod(&cfg)
		if _, err := run(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("run accepted %+v", cfg)
		}
	}
}

func TestGrouped(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {30010000, "30,010,000"}} {
		if got := grouped(tc.n); got != tc.want {
			t.Errorf("grouped(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
