// Package proctest runs an example's binary in tests: build it once, start
// it, learn its addresses from its log, signal it and read its exit code.
package proctest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mu    sync.Mutex
	built = map[string]string{} // package directory -> binary
)

// Build builds the package in dir (relative to the test's directory) once
// per test process and returns the binary's path.
func Build(t *testing.T, dir string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[dir]; ok {
		return bin
	}
	tmp, err := os.MkdirTemp("", "shoal-example")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "server")
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, out)
	}
	built[dir] = bin
	return bin
}

// Proc is a running binary.
type Proc struct {
	Cmd   *exec.Cmd
	Logs  *Buffer           // what it logged after the start-up lines
	Addrs map[string]string // the addr= of each awaited start-up line, by message
	exit  chan error
}

// Start runs bin with args, reads its log (stderr) until a line containing
// each of waitFor has appeared, and records each line's addr= value. The
// process is killed when the test ends, if still running.
func Start(t *testing.T, bin string, waitFor []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	p := &Proc{Cmd: cmd, Logs: &Buffer{}, Addrs: map[string]string{}, exit: make(chan error, 1)}
	r := bufio.NewReader(stderr)
	for len(p.Addrs) < len(waitFor) {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("log line %q, %v", line, err)
		}
		for _, msg := range waitFor {
			if strings.Contains(line, msg) {
				p.Addrs[msg] = LogAttr(line, "addr")
			}
		}
	}
	go func() {
		io.Copy(p.Logs, r) // Wait closes the pipe: read it to the end first
		p.exit <- cmd.Wait()
	}()
	return p
}

// ExitCode waits up to within for the process and returns its exit code.
func (p *Proc) ExitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.exit:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("no exit within %v; logs:\n%s", within, p.Logs.String())
		return -1
	}
}

// LogAttr returns the value of key in a text log line.
func LogAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v, _, _ := strings.Cut(line[i+len(key)+2:], " ")
	return strings.TrimSpace(v)
}

// Buffer is a bytes.Buffer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
