package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/server"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needTool returns the path of an external program the test needs. A
// missing one skips the test, except in CI (the CI environment variable
// set), where it fails: CI installs the apt packages redis-server and
// redis-tools.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (apt-get install redis-server redis-tools): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// kvBinary builds the example once per test run.
func kvBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "kv-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "kv")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs a server program, waits until it answers PING on addr
// and stops it (SIGTERM, then a wait) when the test ends. It returns the
// process's stderr so far through a function.
func startProcess(t *testing.T, addr string, name string, args ...string) func() string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil && !strings.Contains(name, "redis-server") {
				t.Errorf("%s exited with %v\n%s", name, err, logs.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s did not exit within 10s of SIGINT", name)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			rc := newRESPConn(t, c)
			got := rc.do("PING")
			rc.close()
			if string(got) == "+PONG\r\n" {
				return logs.String
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer PING on %s\n%s", name, addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startKV runs the kv binary on a free port.
func startKV(t *testing.T) (addr string, logs func() string) {
	t.Helper()
	addr = freeAddr(t)
	return addr, startProcess(t, addr, kvBinary(t), "-addr", addr, "-loops", "2", "-admin", "127.0.0.1:0")
}

// startRedis runs a real redis-server on a free port, without
// persistence and with one database, as kv has.
func startRedis(t *testing.T) string {
	t.Helper()
	bin := needTool(t, "redis-server")
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	startProcess(t, addr, bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--databases", "1", "--dir", t.TempDir())
	return addr
}

// startInProcess runs kv's handler in this process on a loopback port;
// it is closed when the test ends. The reasons connections close with are
// sent on the returned channel, keyed by the client's address.
func startInProcess(t *testing.T) (*kv, *server.Server, string, <-chan closeEvent) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := newKV(log, 2)
	events := make(chan closeEvent, 4096)
	h.closed = func(c server.Conn, err error) {
		select {
		case events <- closeEvent{c.RemoteAddr().String(), err}:
		default:
		}
	}
	s, err := newServer(h, log, 2)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.store.startExpiry()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		h.store.stopExpiry()
	})
	return h, s, ln.Addr().String(), events
}

// closeEvent is a connection's close: the client's address and the reason.
type closeEvent struct {
	client string
	reason error
}

// waitClose returns the close reason of the connection from client.
func waitClose(t *testing.T, events <-chan closeEvent, client string) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.client == client {
				return ev.reason
			}
		case <-timeout:
			t.Fatalf("the connection from %s did not close", client)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// respConn is a minimal Redis client built on the RESP codec: it sends
// commands and returns each reply as its raw bytes.
type respConn struct {
	t   *testing.T
	c   net.Conn
	dec *codec.RESP
	buf []byte // received, not yet returned
}

func dialRESP(t *testing.T, addr string) *respConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRESPConn(t, c)
	t.Cleanup(rc.close)
	return rc
}

func newRESPConn(t *testing.T, c net.Conn) *respConn {
	return &respConn{t: t, c: c, dec: codec.NewRESP(codec.RESPConfig{})}
}

func (rc *respConn) close() { rc.c.Close() }

// encode encodes args as a RESP array of bulk strings.
func encode(args ...string) []byte {
	b := codec.AppendArrayHeader(nil, len(args))
	for _, a := range args {
		b = codec.AppendBulkString(b, a)
	}
	return b
}

func (rc *respConn) send(raw []byte) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Write(raw); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// read returns the next reply, or an error (io.EOF once the server has
// closed the connection).
func (rc *respConn) read() ([]byte, error) {
	var chunk [64 << 10]byte
	for {
		frame, n, err := rc.dec.Decode(rc.buf)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out := bytes.Clone(frame)
			rc.buf = rc.buf[n:]
			return out, nil
		}
		rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := rc.c.Read(chunk[:])
		rc.buf = append(rc.buf, chunk[:k]...)
		if err != nil && k == 0 {
			return nil, err
		}
	}
}

func (rc *respConn) mustRead() []byte {
	rc.t.Helper()
	b, err := rc.read()
	if err != nil {
		rc.t.Fatalf("read reply: %v", err)
	}
	return b
}

// do sends one command and returns its reply.
func (rc *respConn) do(args ...string) []byte {
	rc.t.Helper()
	rc.send(encode(args...))
	return rc.mustRead()
}

// value is a decoded reply, for the comparisons that look inside one:
// string (simple, bulk, verbatim), respErr, int64, nil, []value (array,
// set, push; a map as its flat list of keys and values).
type value any

type respErr string

// parseValue decodes the reply frame b.
func parseValue(b []byte) (value, []byte, error) {
	if len(b) == 0 {
		return nil, nil, io.ErrUnexpectedEOF
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, nil, io.ErrUnexpectedEOF
	}
	line, rest := string(b[1:i]), b[i+2:]
	switch b[0] {
	case '+', ',', '(':
		return line, rest, nil
	case '-':
		return respErr(line), rest, nil
	case ':':
		n, err := strconv.ParseInt(line, 10, 64)
		return n, rest, err
	case '_':
		return nil, rest, nil
	case '#':
		return line == "t", rest, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(line)
		if err != nil || n < 0 {
			return nil, rest, err
		}
		if len(rest) < n+2 {
			return nil, nil, io.ErrUnexpectedEOF
		}
		return string(rest[:n]), rest[n+2:], nil
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(line)
		if err != nil || n < 0 {
			return nil, rest, err
		}
		if b[0] == '%' {
			n *= 2
		}
		list := make([]value, 0, n)
		for range n {
			var v value
			if v, rest, err = parseValue(rest); err != nil {
				return nil, nil, err
			}
			list = append(list, v)
		}
		return list, rest, nil
	}
	return nil, nil, fmt.Errorf("unknown type %q", b[0])
}

func mustValue(t *testing.T, b []byte) value {
	t.Helper()
	v, rest, err := parseValue(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("reply %q: %v (%d bytes left)", b, err, len(rest))
	}
	return v
}
