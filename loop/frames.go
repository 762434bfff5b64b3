package loop

import (
	"github.com/shoalnet/shoal/internal/bufpool"
)

// frames decodes the whole frames of c's input and hands each to OnFrame,
// in order. Input the codec rejects goes to OnFrameError (if the handler
// has it) and closes c with the codec's error once the answers already
// queued are flushed. It stops early when the memory budget pauses c
// (budget.go) or the handler pauses reading (PauseRead; ResumeRead hands
// over the frames left). It sets *cb to the callback it is in, so that a
// panic is reported with the right name.
func (g *Group) frames(c Conn, cnt *counters, cb *callback) {
	cd := g.opts.Codec
	buf, _ := c.Peek(0)
	off := 0
	for off < len(buf) {
		frame, n, err := cd.Decode(buf[off:])
		if err != nil {
			c.Discard(off)
			cnt.frameErr.Add(1)
			if g.h.frameErr != nil {
				*cb = cbFrameError
				g.h.frameErr.OnFrameError(c, err)
			}
			c.CloseWithError(err)
			return
		}
		if n == 0 {
			break
		}
		off += n
		cnt.frames.Add(1)
		*cb = cbFrame
		g.h.frame.OnFrame(c, frame)
		if cc, ok := c.(*conn); ok && cc.state&(stBudgetPaused|stReadPaused) != 0 {
			// The memory budget paused this producer, or the handler did
			// (it has work in flight for it): the frames left stay
			// buffered (counted as input) and are handed over when it
			// resumes, so that one read cannot fan out without bound.
			break
		}
	}
	if off > 0 { // Discard(0) would drop everything, the unfinished frame too
		c.Discard(off)
	}
}

// writeFrame frames msg with the group's codec into a pooled buffer and
// queues it on c.
func (g *Group) writeFrame(c Conn, msg []byte) error {
	cd := g.opts.Codec
	if cd == nil {
		_, err := c.Write(msg)
		return err
	}
	b, err := cd.AppendFrame(bufpool.Get(len(msg)+16), msg)
	if err == nil {
		_, err = c.Write(b)
	}
	bufpool.Put(b)
	return err
}
