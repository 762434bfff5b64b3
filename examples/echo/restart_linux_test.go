package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/examples/internal/proctest"
)

// TestRestartRefusesNoDial restarts the echo server with SIGUSR2 while a
// client dials 200 connections a second, each echoing a message: first
// onto a binary that fails to start (the old process goes on serving),
// then onto a good one, which inherits the listening sockets; the old
// process drains and exits 0, the new one serves. No dial is refused or
// reset, and every echo comes back. Both engines.
func TestRestartRefusesNoDial(t *testing.T) {
	// The new process is the old one's child; once the old one exits it is
	// reparented to us, so that we can reap it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("no subreaper: %v", err)
	}
	t.Run("loops", func(t *testing.T) { testRestart(t) })
	t.Run("portable", func(t *testing.T) { testRestart(t, "-portable") })
}

func testRestart(t *testing.T, extra ...string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "echo")
	good, err := os.ReadFile(proctest.Build(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	install := func(content []byte) { // atomically, as a package manager would
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, content, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
	}
	install(good)

	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath) // a file, not a pipe: the new process inherits it
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	pidFile := filepath.Join(dir, "pid")
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-restart",
		"-pid-file", pidFile, "-drain-timeout", "5s", "-restart-timeout", "10s"}, extra...)...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if pid := readPID(pidFile); pid > 0 && pid != cmd.Process.Pid {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	})
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	waitLog := func(msg string, n int) string {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if l := logs(); strings.Count(l, msg) >= n {
				return l
			}
		}
		t.Fatalf("no %d× %q in the log:\n%s", n, msg, logs())
		return ""
	}
	var addr string
	for _, line := range strings.Split(waitLog("echo server listening", 1), "\n") {
		if strings.Contains(line, "echo server listening") {
			addr = proctest.LogAttr(line, "addr")
		}
	}
	for readPID(pidFile) != cmd.Process.Pid { // written once ready
		time.Sleep(10 * time.Millisecond)
	}

	d := dialAtRate(addr, 200, 20*time.Second)
	defer d.stop()
	d.waitOK(t, 100)

	// A binary that fails to start: the restart fails, the old one serves.
	install([]byte("#!/bin/sh\necho broken build >&2\nexit 3\n"))
	cmd.Process.Signal(syscall.SIGUSR2)
	waitLog("restart failed; this process goes on serving", 1)
	d.waitOK(t, 100)
	select {
	case err := <-exited:
		t.Fatalf("the old process exited after a failed restart: %v", err)
	default:
	}

	// The good binary: it takes over, the old one drains and exits 0.
	install(good)
	cmd.Process.Signal(syscall.SIGUSR2)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("old process: %v\n%s", err, logs())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the old process did not exit:\n%s", logs())
	}
	pid := readPID(pidFile)
	if pid <= 0 || pid == cmd.Process.Pid {
		t.Fatalf("pid file says %d, old process was %d", pid, cmd.Process.Pid)
	}
	d.waitOK(t, 200) // the new one alone
	d.stop()
	ok, failed, first := d.result()
	t.Logf("%d dials echoed through two restarts (one failed), %d failed", ok, failed)
	if failed > 0 {
		t.Fatalf("%d of %d dials failed, first: %v\n%s", failed, ok+failed, first, logs())
	}

	// The new process drains on SIGTERM like any other.
	syscall.Kill(pid, syscall.SIGTERM)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("new process: %v\n%s", ws, logs())
	}
	if n := strings.Count(logs(), `msg="shutdown finished" code=0`); n != 2 {
		t.Fatalf("%d clean shutdowns logged, want 2:\n%s", n, logs())
	}
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid
}

// rateDialer opens connections at a fixed rate, each in its own goroutine:
// dial, echo a message, hang up; it counts what failed.
type rateDialer struct {
	addr     string
	quit     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	ok, bad  atomic.Int64
	mu       sync.Mutex
	firstErr error
}

func dialAtRate(addr string, perSecond int, atMost time.Duration) *rateDialer {
	d := &rateDialer{addr: addr, quit: make(chan struct{})}
	d.wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		end := time.After(atMost)
		for i := 0; ; i++ {
			select {
			case <-d.quit:
				return
			case <-end:
				return
			case <-tick.C:
				d.wg.Go(func() { d.dial(i) })
			}
		}
	})
	return d
}

func (d *rateDialer) dial(i int) {
	err := func() error {
		c, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("dial %d", i)
		if _, err := io.WriteString(c, msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		if string(got) != msg {
			return fmt.Errorf("echo %q, want %q", got, msg)
		}
		return nil
	}()
	if err == nil {
		d.ok.Add(1)
		return
	}
	d.bad.Add(1)
	d.mu.Lock()
	if d.firstErr == nil {
		d.firstErr = err
	}
	d.mu.Unlock()
}

// waitOK waits for n more successful dials than now.
func (d *rateDialer) waitOK(t *testing.T, n int64) {
	t.Helper()
	want := d.ok.Load() + n
	for end := time.Now().Add(15 * time.Second); d.ok.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			_, bad, first := d.result()
			t.Fatalf("%d dials succeeded, want %d (%d failed, first: %v)", d.ok.Load(), want, bad, first)
		}
	}
}

func (d *rateDialer) stop() {
	d.once.Do(func() { close(d.quit) })
	d.wg.Wait()
}

func (d *rateDialer) result() (ok, bad int64, first error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ok.Load(), d.bad.Load(), d.firstErr
}
