package server

import (
	"fmt"
	"runtime/debug"
)

// PanicError is the close reason of a connection whose callback panicked.
type PanicError struct {
	Callback string // "OnOpen", "OnData", "OnWake", "OnClose" or "AsyncWrite done"
	Value    any    // what the callback panicked with
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("server: panic in %s: %v", e.Callback, e.Value)
}

// callback names a Handler callback for invoke.
type callback uint8

const (
	cbOpen callback = iota
	cbData
	cbWake
	cbClose
	cbEOF
	cbWritable
	cbGoodbye
)

var callbackNames = [...]string{
	cbOpen: "OnOpen", cbData: "OnData", cbWake: "OnWake", cbClose: "OnClose",
	cbEOF: "OnEOF", cbWritable: "OnWritable", cbGoodbye: "OnGoodbye",
}

// invoke runs one callback of the handler with panic isolation: a panic is
// logged with its stack, counted, and returned as a *PanicError so that the
// caller closes only this connection. closeErr is OnClose's argument.
func (s *Server) invoke(cb callback, c Conn, closeErr error, loop int, cnt *counters) (perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = s.panicked(r, callbackNames[cb], loop, cnt)
		}
	}()
	switch cb {
	case cbOpen:
		s.h.OnOpen(c)
	case cbData:
		if s.fh != nil && s.opts.codec != nil {
			s.frames(c, cnt)
		} else {
			s.h.OnData(c)
		}
	case cbWake:
		if wh, ok := s.h.(WakeHandler); ok {
			wh.OnWake(c)
		}
	case cbClose:
		s.h.OnClose(c, closeErr)
	case cbEOF:
		s.h.(EOFHandler).OnEOF(c)
	case cbWritable:
		s.h.(WritableHandler).OnWritable(c)
	case cbGoodbye:
		s.h.(GoodbyeHandler).OnGoodbye(c)
	}
	return nil
}

// guardCall runs f, a user function that is not a Handler method (an
// AfterFunc, a loop tick), with the same panic isolation.
func (s *Server) guardCall(name string, f func(), loop int, cnt *counters) (perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = s.panicked(r, name, loop, cnt)
		}
	}()
	f()
	return nil
}

func (s *Server) panicked(r any, name string, loop int, cnt *counters) *PanicError {
	cnt.panics.Add(1)
	if ok, dropped := s.panicLog.allow(); ok {
		s.opts.logger.Error("callback panicked; closing its connection",
			"callback", name, "loop", loop, "panic", r, "stack", string(debug.Stack()), "suppressed", dropped)
	}
	return &PanicError{Callback: name, Value: r}
}

// guardDone wraps an AsyncWrite completion so that a panic in it is
// recovered, logged and counted, and closes the connection.
func (s *Server) guardDone(done func(Conn, error), loop int, cnt *counters) func(Conn, error) {
	if done == nil {
		return nil
	}
	return func(c Conn, err error) {
		defer func() {
			if r := recover(); r != nil {
				s.panicked(r, "AsyncWrite done", loop, cnt)
				c.Close()
			}
		}()
		done(c, err)
	}
}
