package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// closer answers "N write" with N bytes then a CloseWrite, "N close" with
// N bytes then a Close, and "why" with CloseWithError.
type closer struct {
	closeRecorder
	after chan []byte // input that arrives after a CloseWrite
}

var errWhy = errors.New("closed because asked why")

func (h *closer) OnData(c Conn) {
	b, _ := c.Next(0)
	var n int
	var verb string
	for i, ch := range b {
		if ch == ' ' {
			n, _ = strconv.Atoi(string(b[:i]))
			verb = string(b[i+1:])
			break
		}
	}
	switch {
	case verb == "write":
		c.Write(pattern(n))
		if err := c.CloseWrite(); err != nil {
			panic(err)
		}
	case verb == "close":
		c.Write(pattern(n))
		c.Close()
	case string(b) == "why":
		c.CloseWithError(errWhy)
	default:
		h.after <- append([]byte(nil), b...)
	}
}

func TestCloseWriteDeliversEverythingThenEOF(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &closer{closeRecorder: *newCloseRecorder(), after: make(chan []byte, 16)}
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("10485760 write"))
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(nc) // ends at the server's FIN
		if err != nil || !bytes.Equal(got, pattern(10<<20)) {
			t.Fatalf("read %d bytes, %v; want 10 MiB then EOF", len(got), err)
		}
		// Half-closed: the server still reads what the peer sends.
		nc.Write([]byte("still here"))
		select {
		case b := <-h.after:
			if string(b) != "still here" {
				t.Fatalf("server read %q", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server stopped reading after CloseWrite")
		}
		nc.(*net.TCPConn).CloseWrite()
		if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], io.EOF) {
			t.Fatalf("OnClose %v, want io.EOF once both sides are done", errs)
		}
	})
}

// TestCloseAfterWriteNoReset writes 10 MiB and closes while the peer has
// sent input the server never reads: the peer still gets every byte and a
// clean EOF, not a reset.
func TestCloseAfterWriteNoReset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &closer{closeRecorder: *newCloseRecorder(), after: make(chan []byte, 1024)}
		_, addr := start(t, h, eng, WithSocketBuffers(64<<10, 64<<10))
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("10485760 close"))
		time.Sleep(20 * time.Millisecond)
		nc.Write(bytes.Repeat([]byte("x"), 32<<10)) // unread by the server
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(nc)
		if err != nil || !bytes.Equal(got, pattern(10<<20)) {
			t.Fatalf("read %d bytes, %v; want 10 MiB then a clean EOF", len(got), err)
		}
		nc.Close()
		if errs := h.waitClosed(t, c); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnClose %v, want one nil", errs)
		}
	})
}

// halfCloser answers after the peer's half-close.
type halfCloser struct {
	closeRecorder
	eof chan struct{}
}

func (h *halfCloser) OnData(c Conn) {} // keep everything until EOF
func (h *halfCloser) OnEOF(c Conn) {
	b, _ := c.Next(0)
	c.Write([]byte("you said: "))
	c.Write(b)
	c.Close()
	h.eof <- struct{}{}
}

func TestPeerHalfCloseReported(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &halfCloser{closeRecorder: *newCloseRecorder(), eof: make(chan struct{}, 1)}
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("hello"))
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(nc)
		if err != nil || string(got) != "you said: hello" {
			t.Fatalf("read %q, %v", got, err)
		}
		<-h.eof
		if errs := h.waitClosed(t, c); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnClose %v, want one nil", errs)
		}
	})
}

func TestCloseWithErrorReason(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &closer{closeRecorder: *newCloseRecorder()}
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("why"))
		if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], errWhy) {
			t.Fatalf("OnClose %v, want errWhy", errs)
		}
	})
}

func TestResetReportedWithCause(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := newCloseRecorder()
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		c := <-h.opened
		echoRoundTrip(nc, []byte("x"))
		nc.(*net.TCPConn).SetLinger(0) // close with RST
		nc.Close()
		if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], syscall.ECONNRESET) {
			t.Fatalf("OnClose %v, want ECONNRESET", errs)
		}
	})
}

// pauser stops reading after the first message until told to resume.
type pauser struct {
	closeRecorder
	paused chan Conn
}

func (h *pauser) OnData(c Conn) {
	b, _ := c.Next(0)
	c.Write(b)
	if string(b) == "pause" {
		c.PauseRead()
		h.paused <- c
	}
}

func (h *pauser) OnWake(c Conn) { c.ResumeRead() }

func TestPauseAndResumeRead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &pauser{closeRecorder: *newCloseRecorder(), paused: make(chan Conn, 1)}
		_, addr := start(t, h, eng)
		nc := dial(t, addr)
		if err := echoRoundTrip(nc, []byte("pause")); err != nil {
			t.Fatal(err)
		}
		c := <-h.paused
		nc.Write([]byte("later"))
		nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := nc.Read(make([]byte, 5)); err == nil {
			t.Fatalf("read %d bytes while the server was paused", n)
		}
		c.Wake() // OnWake resumes reading
		got := make([]byte, 5)
		readFull(t, nc, got)
		if string(got) != "later" {
			t.Fatalf("got %q after resume", got)
		}
	})
}
