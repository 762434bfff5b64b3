package loop

import (
	"fmt"
	"runtime/debug"
)

// PanicError is the close reason of a connection whose callback panicked.
type PanicError struct {
	Callback string // the callback that panicked: "OnOpen", "OnData", "OnFrame", "AfterFunc", ...
	Value    any    // what the callback panicked with
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("loop: panic in %s: %v", e.Callback, e.Value)
}

// callback names a Handler callback for invoke.
type callback uint8

const (
	cbOpen callback = iota
	cbData
	cbFrame
	cbFrameError
	cbWake
	cbClose
	cbEOF
	cbWritable
	cbGoodbye
)

var callbackNames = [...]string{
	cbOpen: "OnOpen", cbData: "OnData", cbFrame: "OnFrame", cbFrameError: "OnFrameError", cbWake: "OnWake",
	cbClose: "OnClose", cbEOF: "OnEOF", cbWritable: "OnWritable", cbGoodbye: "OnGoodbye",
}

// invoke runs one callback of the handler with panic isolation: a panic is
// logged with its stack, counted, and returned as a *PanicError naming the
// callback that panicked, so that the caller closes only this connection.
// closeErr is OnClose's argument.
func (g *Group) invoke(cb callback, c Conn, closeErr error, loop int, cnt *counters) (perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = g.panicked(r, callbackNames[cb], loop, cnt)
		}
	}()
	switch cb {
	case cbOpen:
		g.h.OnOpen(c)
	case cbData:
		if g.opts.Codec != nil {
			g.frames(c, cnt, &cb)
		} else {
			g.h.OnData(c)
		}
	case cbWake:
		g.h.wake.OnWake(c)
	case cbClose:
		g.h.OnClose(c, closeErr)
	case cbEOF:
		g.h.eof.OnEOF(c)
	case cbWritable:
		g.h.writable.OnWritable(c)
	case cbGoodbye:
		g.h.goodbye.OnGoodbye(c)
	}
	return nil
}

// guardCall runs f, a user function that is not a Handler method (an
// AfterFunc, a loop tick, a task), with the same panic isolation.
func (g *Group) guardCall(name string, f func(), loop int, cnt *counters) (perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = g.panicked(r, name, loop, cnt)
		}
	}()
	f()
	return nil
}

func (g *Group) panicked(r any, name string, loop int, cnt *counters) *PanicError {
	cnt.panics.Add(1)
	if ok, dropped := g.panicLog.allow(); ok {
		g.opts.Logger.Error("callback panicked; closing its connection",
			"callback", name, "loop", loop, "panic", r, "stack", string(debug.Stack()), "suppressed", dropped)
	}
	return &PanicError{Callback: name, Value: r}
}

// guardDone wraps an AsyncWrite completion so that a panic in it is
// recovered, logged and counted, and closes the connection.
func (g *Group) guardDone(done func(Conn, error), loop int, cnt *counters) func(Conn, error) {
	if done == nil {
		return nil
	}
	return func(c Conn, err error) {
		defer func() {
			if r := recover(); r != nil {
				g.panicked(r, "AsyncWrite done", loop, cnt)
				c.Close()
			}
		}()
		done(c, err)
	}
}
