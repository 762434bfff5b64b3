package server

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicky echoes, except that "boom" makes OnData panic.
type panicky struct{ closeRecorder }

func (p *panicky) OnData(c Conn) {
	b, _ := c.Peek(0)
	if string(b) == "boom" {
		panic("boom on purpose")
	}
	c.Next(0)
	c.Write(b)
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng Option) {
		var logs strings.Builder
		var logMu sync.Mutex
		log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), nil))
		h := &panicky{*newCloseRecorder()}
		s, addr := start(t, h, eng, WithLogger(log))
		victim := dial(t, addr)
		vc := <-h.opened
		var wg sync.WaitGroup
		errc := make(chan error, 100)
		conns := make(chan struct{}, 100)
		for range 100 {
			nc := dial(t, addr)
			<-h.opened
			wg.Go(func() {
				conns <- struct{}{}
				for i := range 50 {
					if err := echoRoundTrip(nc, []byte(strings.Repeat("x", 1+i))); err != nil {
						errc <- err
						return
					}
				}
			})
		}
		for range 100 {
			<-conns
		}
		victim.Write([]byte("boom"))
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		victim.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := victim.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("victim read: %v, want EOF", err)
		}
		errs := h.waitClosed(t, vc)
		var pe *PanicError
		if len(errs) != 1 || !errors.As(errs[0], &pe) || pe.Value != "boom on purpose" {
			t.Fatalf("victim OnClose: %v", errs)
		}
		if st := s.Stats(); st.Panics != 1 || st.Conns != 100 {
			t.Fatalf("stats after the panic: panics %d conns %d", st.Panics, st.Conns)
		}
		logMu.Lock()
		defer logMu.Unlock()
		if !strings.Contains(logs.String(), "boom on purpose") || !strings.Contains(logs.String(), "panic_test.go") {
			t.Fatalf("panic not logged with its stack:\n%s", logs.String())
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func newTestLogger(write func([]byte)) *slog.Logger {
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		write(p)
		return len(p), nil
	}), nil))
}

// framePanicker panics in OnFrame on "boom" and in AfterFunc on "late";
// it embeds NopHandler and writes no OnData of its own.
type framePanicker struct {
	NopHandler
	closed chan error
}

func (h *framePanicker) OnFrame(c Conn, f []byte) {
	switch string(f) {
	case "boom":
		panic("frame boom")
	case "late":
		c.AfterFunc(time.Millisecond, func(Conn) { panic("timer boom") })
	default:
		c.WriteFrame(f)
	}
}

func (h *framePanicker) OnClose(_ Conn, err error) { h.closed <- err }

// TestPanicNamesItsCallback checks that a recovered panic names the
// callback that panicked, not the one that called it.
func TestPanicNamesItsCallback(t *testing.T) {
	for _, tc := range []struct{ input, callback string }{
		{"ok\nboom\n", "OnFrame"},
		{"late\n", "AfterFunc"},
	} {
		forEachEngine(t, func(t *testing.T, eng Option) {
			h := &framePanicker{closed: make(chan error, 1)}
			_, addr := start(t, h, eng, WithCodec(testLines{max: 64}), WithTuning(Tuning{TimerTick: time.Millisecond}))
			nc := dial(t, addr)
			nc.Write([]byte(tc.input))
			var pe *PanicError
			select {
			case err := <-h.closed:
				if !errors.As(err, &pe) || pe.Callback != tc.callback {
					t.Fatalf("OnClose got %v, want a panic in %s", err, tc.callback)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not close")
			}
		})
	}
}
