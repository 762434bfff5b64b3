//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
)

// proc is a running echo server.
type proc struct {
	*proctest.Proc
	addr string
}

func startEcho(t *testing.T, args ...string) *proc {
	t.Helper()
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, []string{"echo server listening"}, append([]string{"-addr", "127.0.0.1:0", "-admin", ""}, args...)...)
	return &proc{Proc: p, addr: p.Addrs["echo server listening"]}
}

// streamer sends a known byte stream and checks what comes back.
type streamer struct {
	c       net.Conn
	sent    int
	got     int
	readErr error
}

func streamByte(i int) byte { return byte(i*31 + i>>9) }

// TestDrainDeadlineWithAPeerThatNeverReads: one peer never reads its
// echo, so the drain runs into the deadline: the process exits with the
// deadline code, the others drained cleanly.
func TestDrainDeadlineWithAPeerThatNeverReads(t *testing.T) {
	p := startEcho(t, "-drain-timeout", "1s")
	stuck, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	go stuck.Write(bytes.Repeat([]byte("x"), 3<<20)) // echoed into a peer that never reads
	others := make([]net.Conn, 10)
	for i := range others {
		if others[i], err = net.Dial("tcp", p.addr); err != nil {
			t.Fatal(err)
		}
		defer others[i].Close()
		others[i].Write([]byte("hello"))
	}
	time.Sleep(300 * time.Millisecond)
	p.Cmd.Process.Signal(syscall.SIGTERM)
	for i, c := range others {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c) // the echo, then a clean EOF
		if err != nil || string(got) != "hello" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
		c.Close()
	}
	if code := p.ExitCode(t, 10*time.Second); code != 3 {
		t.Fatalf("exit code %d, want 3 (deadline); logs:\n%s", code, p.Logs.String())
	}
}

// TestSecondSIGTERMForcesExit: a second SIGTERM during the drain exits at
// once with the forced code.
func TestSecondSIGTERMForcesExit(t *testing.T) {
	p := startEcho(t, "-drain-timeout", "30s")
	stuck, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	go stuck.Write(bytes.Repeat([]byte("x"), 3<<20)) // keeps the drain busy
	time.Sleep(300 * time.Millisecond)
	p.Cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.ExitCode(t, 5*time.Second); code != 4 {
		t.Fatalf("exit code %d, want 4 (forced); logs:\n%s", code, p.Logs.String())
	}
}

// stream writes chunk-sized pieces of the known byte stream until stop is
// closed (and then after) for a random part of spread, then reads to EOF,
// checking every echoed byte. It records what was sent and echoed.
func (s *streamer) stream(wg *sync.WaitGroup, chunkSize int, stop <-chan struct{}, after time.Duration) {
	defer wg.Done()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 16<<10)
		for {
			s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := s.c.Read(buf)
			for i := range n {
				if buf[i] != streamByte(s.got+i) {
					s.readErr = errors.New("echo differs from what was sent")
					return
				}
			}
			s.got += n
			if err != nil {
				if err != io.EOF {
					s.readErr = err
				}
				return
			}
		}
	}()
	chunk := make([]byte, chunkSize)
	var until time.Time
	for {
		select {
		case <-stop:
			if until.IsZero() {
				until = time.Now().Add(after)
			}
		default:
		}
		if !until.IsZero() && time.Now().After(until) {
			break
		}
		for i := range chunk {
			chunk[i] = streamByte(s.sent + i)
		}
		n, err := s.c.Write(chunk)
		s.sent += n
		if err != nil {
			s.readErr = err
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-done
	s.c.Close()
}

// dialSpread dials n connections from 127.0.0.1-127.0.0.8 in turn.
func dialSpread(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// TestSIGTERMEchoesEverything: 500 connections stream 256 B writes, SIGTERM
// comes mid-stream, each client stops writing within 200 ms of it and reads
// to EOF. Every byte every client wrote comes back before a clean EOF: the
// drain reads and echoes until each client has been quiet, and drops
// nothing. New connections are refused promptly; the process exits 0.
func TestSIGTERMEchoesEverything(t *testing.T) {
	const conns = 500
	p := startEcho(t, "-drain-timeout", "20s")
	streams := make([]*streamer, conns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range dialSpread(t, p.addr, conns) {
		streams[i] = &streamer{c: c}
		wg.Add(1)
		go streams[i].stream(&wg, 256, stop, time.Duration(i%200)*time.Millisecond)
	}
	time.Sleep(time.Second) // mid-stream
	signaled := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	close(stop)
	var refusedAfter time.Duration
	for time.Since(signaled) < 5*time.Second {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			refusedAfter = time.Since(signaled)
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if refusedAfter == 0 {
		t.Fatal("new connections still accepted 5s after SIGTERM")
	}
	code := p.ExitCode(t, 30*time.Second)
	exited := time.Since(signaled)
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
	total := 0
	for i, s := range streams {
		if s.readErr != nil || s.got != s.sent {
			t.Fatalf("connection %d: echoed %d of the %d bytes it wrote (%v)", i, s.got, s.sent, s.readErr)
		}
		total += s.got
	}
	t.Logf("%d connections: all %d KiB written came back; refused new connections %v after SIGTERM; exited 0 after %v",
		conns, total>>10, refusedAfter.Round(time.Millisecond), exited.Round(time.Millisecond))
}

// TestDrainDeadlineClosesSilentPeers: 5 peers never read their echo, 200
// others stream and stop within 200 ms of SIGTERM. With -drain-timeout 3s
// the silent ones are force-closed at the deadline, the others get every
// byte back and a clean EOF, and the process exits by itself within 6 s
// (code 3: the deadline passed).
func TestDrainDeadlineClosesSilentPeers(t *testing.T) {
	const others = 200
	p := startEcho(t, "-drain-timeout", "3s")
	for _, c := range dialSpread(t, p.addr, 5) {
		c.(*net.TCPConn).SetReadBuffer(4096)
		go c.Write(bytes.Repeat([]byte("x"), 3<<20)) // echoed into a peer that never reads (below the 4 MiB high watermark)
	}
	streams := make([]*streamer, others)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range dialSpread(t, p.addr, others) {
		streams[i] = &streamer{c: c}
		wg.Add(1)
		go streams[i].stream(&wg, 256, stop, time.Duration(i%200)*time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	signaled := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	close(stop)
	code := p.ExitCode(t, 6*time.Second)
	exited := time.Since(signaled)
	wg.Wait()
	if code != 3 {
		t.Fatalf("exit code %d, want 3 (deadline); logs:\n%s", code, p.Logs.String())
	}
	for i, s := range streams {
		if s.readErr != nil || s.got != s.sent {
			t.Fatalf("connection %d: echoed %d of the %d bytes it wrote (%v)", i, s.got, s.sent, s.readErr)
		}
	}
	t.Logf("silent peers force-closed at the deadline; %d others complete; exited after %v", others, exited.Round(time.Millisecond))
}
