//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
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

// streamer sends a known byte stream until it sees EOF, checking that the
// echo is an exact prefix of what it sent.
type streamer struct {
	c       net.Conn
	sent    int
	got     int
	readErr error
}

func streamByte(i int) byte { return byte(i*31 + i>>9) }

func (s *streamer) run(wg *sync.WaitGroup, start <-chan struct{}) {
	defer wg.Done()
	<-start
	eof := make(chan struct{})
	go func() {
		buf := make([]byte, 16<<10)
		for {
			n, err := s.c.Read(buf)
			for i := range n {
				if buf[i] != streamByte(s.got+i) {
					s.readErr = errors.New("echo differs from what was sent")
					close(eof)
					return
				}
			}
			s.got += n
			if err != nil {
				if err != io.EOF {
					s.readErr = err
				}
				close(eof)
				return
			}
		}
	}()
	chunk := make([]byte, 1024)
	for {
		select {
		case <-eof:
			s.c.Close()
			return
		default:
		}
		for i := range chunk {
			chunk[i] = streamByte(s.sent + i)
		}
		s.c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := s.c.Write(chunk)
		s.sent += n
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			<-eof // the server closed: wait for the read side to finish
			s.c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGTERMDrainsStreamingConnections streams on 1,000 connections,
// sends SIGTERM mid-stream and checks that each connection's echo is an
// exact prefix of what it sent, ends in a clean EOF, that new connections
// are refused promptly and that the process exits 0 in time.
func TestSIGTERMDrainsStreamingConnections(t *testing.T) {
	const conns = 1000
	p := startEcho(t, "-drain-timeout", "20s")
	streams := make([]*streamer, conns)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := range streams {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}}
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = &streamer{c: c}
		wg.Add(1)
		go streams[i].run(&wg, begin)
	}
	close(begin)
	time.Sleep(time.Second) // mid-stream
	signaled := time.Now()
	p.Cmd.Process.Signal(syscall.SIGTERM)

	// A new connection is refused promptly.
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
		if s.readErr != nil {
			t.Fatalf("connection %d: %v after %d of %d bytes", i, s.readErr, s.got, s.sent)
		}
		if s.got == 0 || s.got > s.sent {
			t.Fatalf("connection %d: echoed %d of %d bytes", i, s.got, s.sent)
		}
		total += s.got
	}
	t.Logf("%d connections drained; %d KiB echoed; refused new connections %v after SIGTERM; exited 0 after %v",
		conns, total>>10, refusedAfter.Round(time.Millisecond), exited.Round(time.Millisecond))
}

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
