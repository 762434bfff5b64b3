package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// Generous bounds: a slow CI machine must not fail the tests, and no
// test asserts on time.
const (
	startWithin = 60 * time.Second
	exitWithin  = 60 * time.Second
	testWithin  = 3 * time.Minute
)

// bigSize is wsecho's default -max-message: the largest message it takes.
const bigSize = 16 << 20

var (
	buildDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-interop")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	examplesMu  sync.Mutex
	exampleBins = map[string]string{}
)

// exampleBinary builds examples/<name> once per test process.
func exampleBinary(t *testing.T, name string) string {
	t.Helper()
	examplesMu.Lock()
	defer examplesMu.Unlock()
	if bin, ok := exampleBins[name]; ok {
		return bin
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
	}
	exampleBins[name] = bin
	return bin
}

// wsechoBinary builds examples/wsecho once per test process.
func wsechoBinary(t *testing.T) string { return exampleBinary(t, "wsecho") }

// server is a running wsecho.
type server struct {
	cmd  *exec.Cmd
	Addr string // host:port it listens on
	logs *logBuffer
	exit chan error
}

// startServer runs wsecho on a free loopback port, admin endpoints off,
// and waits for its "listening" line. It is killed when the test ends if
// it is still running.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-admin", ""}, args...)
	return startProcess(t, "wsecho", wsechoBinary(t), args...)
}

// startProcess runs the example bin with args and waits for the log line
// "NAME listening", whose addr attribute becomes the server's Addr. It is
// killed when the test ends if it is still running.
func startProcess(t *testing.T, name, bin string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	s := &server{cmd: cmd, logs: &logBuffer{}, exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			s.logs.Write([]byte(line))
			if strings.Contains(line, name+" listening") {
				addr <- logAttr(line, "addr")
				break
			}
			if err != nil {
				close(addr)
				break
			}
		}
		io.Copy(s.logs, r) // Wait closes the pipe: read it to the end first
		s.exit <- cmd.Wait()
	}()
	select {
	case a, ok := <-addr:
		if !ok || a == "" {
			t.Fatalf("%s did not start; logs:\n%s", name, s.logs)
		}
		s.Addr = a
	case <-time.After(startWithin):
		t.Fatalf("%s not listening within %v; logs:\n%s", name, startWithin, s.logs)
	}
	return s
}

// URL is a WebSocket URL on the server.
func (s *server) URL(path string) string { return "ws://" + s.Addr + path }

// Drain sends SIGTERM: every connection gets a close frame 1001.
func (s *server) Drain(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// WaitExit0 fails the test unless the process exits with 0.
func (s *server) WaitExit0(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.exit:
		if err != nil {
			t.Fatalf("wsecho: %v; logs:\n%s", err, s.logs)
		}
	case <-time.After(exitWithin):
		t.Fatalf("wsecho did not exit within %v; logs:\n%s", exitWithin, s.logs)
	}
}

// logAttr returns the value of key in a text log line.
func logAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v, _, _ := strings.Cut(line[i+len(key)+2:], " ")
	return strings.TrimSpace(v)
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// needTool returns the path of an outside program the test drives. A
// missing one skips the test on a developer's machine and fails it in CI
// (CI=true), where .ci/run installs it.
func needTool(t *testing.T, name string, alt ...string) string {
	t.Helper()
	for _, n := range append([]string{name}, alt...) {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found, and CI=true: .ci/run installs it", name)
	}
	t.Skipf("%s not found (CI=true makes this a failure)", name)
	return ""
}

// message is one message of the exchange and the echo it must get.
type message struct {
	name   string
	binary bool
	parts  [][]byte // one part: one frame; more: a fragmented message
}

func (m message) whole() []byte { return bytes.Join(m.parts, nil) }

// messages is what every Go client sends: text, binary, fragmented text
// and binary, and the largest messages wsecho takes. The fragmented ones
// are split mid-rune and are large and varied enough to go out as
// several frames even when compressed.
func messages() []message {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3*16<<10)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	runes := []rune("aé✓🙂 zß€𝄞\n\x00ĀЖ中")
	var text []byte
	for len(text) < 3*16<<10 {
		text = utf8.AppendRune(text, runes[r.IntN(len(runes))])
	}
	big := make([]byte, bigSize)
	for i := range big {
		// Noise and runs in turn: deflate has work either way.
		if i&(1<<12) == 0 {
			big[i] = byte(r.Uint32())
		} else {
			big[i] = byte(i >> 13)
		}
	}
	return []message{
		{"text", false, [][]byte{[]byte("héllo, wörld ✓")}},
		{"empty text", false, [][]byte{{}}},
		{"binary", true, [][]byte{all}},
		{"empty binary", true, [][]byte{{}}},
		{"fragmented text", false, [][]byte{text[:1], text[1 : 16<<10+1], {}, text[16<<10+1:]}},
		{"fragmented binary", true, [][]byte{noise[:100], noise[100 : 16<<10], noise[16<<10:]}},
		{"16 MiB binary", true, [][]byte{big}},
		{"16 MiB text", false, [][]byte{bytes.Repeat([]byte("0123456789abcdé"), bigSize/16)}},
	}
}

// checkEcho compares an echo with what was sent, byte for byte.
func checkEcho(t *testing.T, m message, binary bool, got []byte) {
	t.Helper()
	want := m.whole()
	if binary != m.binary {
		t.Errorf("%s: echo is binary=%v, want %v", m.name, binary, m.binary)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: echo of %d bytes differs from the %d sent at byte %d", m.name, len(got), len(want), i)
	}
}

// wantDeflate fails the test unless the 101's Sec-WebSocket-Extensions
// shows permessage-deflate negotiated.
func wantDeflate(t *testing.T, ext string) {
	t.Helper()
	if !strings.Contains(ext, "permessage-deflate") {
		t.Errorf("permessage-deflate offered but not negotiated: Sec-WebSocket-Extensions %q", ext)
	}
}

// wantNoExtension fails the test if an extension was negotiated that the
// client did not offer.
func wantNoExtension(t *testing.T, ext string) {
	t.Helper()
	if ext != "" {
		t.Errorf("no extension offered, yet Sec-WebSocket-Extensions %q", ext)
	}
}

// wantCompressed checks the frames on the wire: with permessage-deflate,
// messages were compressed both ways (by the client, and by wsecho in its
// echoes); without it, none was.
func wantCompressed(t *testing.T, deflate bool, wire *wireConn) {
	t.Helper()
	sent, got := wire.Sent().Compressed, wire.Received().Compressed
	t.Logf("compressed messages: %d sent, %d received", sent, got)
	switch {
	case deflate && (sent == 0 || got == 0):
		t.Errorf("permessage-deflate: %d compressed messages sent and %d received, want some each way", sent, got)
	case !deflate && sent+got != 0:
		t.Errorf("no permessage-deflate, yet %d compressed messages sent and %d received", sent, got)
	}
}
