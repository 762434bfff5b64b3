package server

import (
	"github.com/shoalnet/shoal/internal/bufpool"
)

// frames decodes the whole frames of c's input and hands each to OnFrame,
// in order. Input the codec rejects goes to OnFrameError (if the handler
// has it) and closes c with the codec's error once the answers already
// queued are flushed.
func (s *Server) frames(c Conn, cnt *counters) {
	cd := s.opts.codec
	buf, _ := c.Peek(0)
	off := 0
	for off < len(buf) {
		frame, n, err := cd.Decode(buf[off:])
		if err != nil {
			c.Discard(off)
			cnt.frameErr.Add(1)
			if s.feh != nil {
				s.feh.OnFrameError(c, err)
			}
			c.CloseWithError(err)
			return
		}
		if n == 0 {
			break
		}
		off += n
		cnt.frames.Add(1)
		s.fh.OnFrame(c, frame)
	}
	if off > 0 { // Discard(0) would drop everything, the unfinished frame too
		c.Discard(off)
	}
}

// writeFrame frames msg with the server's codec into a pooled buffer and
// queues it on c.
func writeFrame(c Conn, s *Server, msg []byte) error {
	cd := s.opts.codec
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
