package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/codec"
)

// testLines is a minimal newline codec for the integration tests; the real
// codecs live in package codec and have tests of their own.
type testLines struct{ max int }

func (l testLines) Name() string { return "test-lines" }
func (l testLines) Decode(buf []byte) ([]byte, int, error) {
	i := bytes.IndexByte(buf, '\n')
	switch {
	case i < 0 && len(buf) > l.max:
		return nil, 0, codec.ErrFrameTooLarge
	case i < 0:
		return nil, 0, nil
	case i > l.max:
		return nil, 0, codec.ErrFrameTooLarge
	}
	return buf[:i], i + 1, nil
}
func (l testLines) AppendFrame(dst, msg []byte) ([]byte, error) {
	return append(append(dst, msg...), '\n'), nil
}

// shouter answers every frame with it in upper case.
type shouter struct{ closeRecorder }

func (h *shouter) OnFrame(c Conn, f []byte) {
	c.WriteFrame(bytes.ToUpper(f))
}

func TestCodecFramesInOrderAndClosesOnBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &shouter{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithCodec(testLines{max: 16}))
		nc := dial(t, addr)
		c := <-h.opened
		// A frame whose first part arrives alone, then pipelined frames in
		// one write, one of them split over two writes.
		nc.Write([]byte("par"))
		time.Sleep(20 * time.Millisecond)
		nc.Write([]byte("tial\na\nbb\nccc\ndd"))
		time.Sleep(20 * time.Millisecond)
		nc.Write([]byte("d\n"))
		r := bufio.NewReader(nc)
		for _, want := range []string{"PARTIAL", "A", "BB", "CCC", "DDD"} {
			line, err := r.ReadString('\n')
			if err != nil || line != want+"\n" {
				t.Fatalf("got %q, %v; want %q", line, err, want)
			}
		}
		// An answered frame, then an endless line: the answer arrives,
		// then the close.
		nc.Write([]byte("last\n" + string(bytes.Repeat([]byte("x"), 100))))
		rest, err := io.ReadAll(r)
		if err != nil || string(rest) != "LAST\n" {
			t.Fatalf("read %q, %v; want the answer then EOF", rest, err)
		}
		if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], codec.ErrFrameTooLarge) {
			t.Fatalf("OnClose %v, want ErrFrameTooLarge", errs)
		}
		if st := s.Stats(); st.Frames != 6 || st.FrameErrors != 1 {
			t.Fatalf("frames %d errors %d, want 6 and 1", st.Frames, st.FrameErrors)
		}
	})
	if _, err := New(echoHandler{}, WithCodec(testLines{})); err == nil {
		t.Fatal("New accepted a codec with a handler that has no OnFrame")
	}
}

// explainer is a shouter that says why before its connection closes.
type explainer struct{ shouter }

func (h *explainer) OnFrameError(c Conn, err error) { c.WriteFrame([]byte("ERR " + err.Error())) }

func TestFrameErrorAnsweredBeforeClose(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &explainer{shouter{*newCloseRecorder()}}
		_, addr := start(t, h, eng, WithCodec(testLines{max: 16}))
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("ok\n" + string(bytes.Repeat([]byte("x"), 100))))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, err := io.ReadAll(nc)
		if want := "OK\nERR " + codec.ErrFrameTooLarge.Error() + "\n"; err != nil || string(rest) != want {
			t.Fatalf("read %q, %v; want %q then EOF", rest, err, want)
		}
		if errs := h.waitClosed(t, c); len(errs) != 1 || !errors.Is(errs[0], codec.ErrFrameTooLarge) {
			t.Fatalf("OnClose %v, want ErrFrameTooLarge", errs)
		}
	})
}

// stepper answers one frame, then pauses reading until the test wakes the
// connection: the frames of the same read wait for ResumeRead.
type stepper struct {
	closeRecorder
	got chan string
}

func (h *stepper) OnFrame(c Conn, f []byte) {
	c.WriteFrame(bytes.ToUpper(f))
	c.PauseRead()
	h.got <- string(f)
}

func (h *stepper) OnWake(c Conn) { c.ResumeRead() }

func TestPauseReadHoldsBufferedFrames(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		h := &stepper{*newCloseRecorder(), make(chan string, 8)}
		_, addr := start(t, h, eng, WithCodec(testLines{max: 16}))
		nc := dial(t, addr)
		c := <-h.opened
		nc.Write([]byte("a\nbb\nccc\n")) // one write: most often one read
		r := bufio.NewReader(nc)
		for i, want := range []string{"a", "bb", "ccc"} {
			if got := <-h.got; got != want {
				t.Fatalf("frame %d: %q, want %q", i, got, want)
			}
			line, err := r.ReadString('\n')
			if err != nil || line != strings.ToUpper(want)+"\n" {
				t.Fatalf("got %q, %v; want %q", line, err, strings.ToUpper(want))
			}
			select {
			case f := <-h.got:
				t.Fatalf("frame %q handed over while reading was paused", f)
			case <-time.After(20 * time.Millisecond):
			}
			c.Wake() // OnWake resumes: the next buffered frame follows, with no more input
		}
	})
}
