package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
)

// wireConn is a client's TCP connection that parses the frames going
// each way after the HTTP head, so that a test can tell that a fragmented
// message left as several frames and that compressed messages went both
// ways.
type wireConn struct {
	net.Conn
	mu      sync.Mutex
	out, in frameScanner
}

// wireCount is what a frameScanner has seen.
type wireCount struct {
	Frames     int // data frames: text, binary, continuation
	Compressed int // first frames of a message with RSV1 set (permessage-deflate)
}

// dialWire dials like net.Dialer and returns a wireConn.
func dialWire(ctx context.Context, network, addr string) (*wireConn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c}, nil
}

func (c *wireConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.scan(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in.scan(p[:n])
	c.mu.Unlock()
	return n, err
}

// Sent is what the client has written; Received, what it has read.
func (c *wireConn) Sent() wireCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.count
}

func (c *wireConn) Received() wireCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.count
}

// frameScanner follows one direction of a connection: the HTTP head up to
// its blank line, then WebSocket frames, whatever the splits.
type frameScanner struct {
	body  bool   // past the HTTP head
	tail  []byte // the head's last bytes, to find the blank line
	hdr   []byte // the frame header read so far
	skip  uint64 // payload bytes left in the current frame
	count wireCount
}

func (s *frameScanner) scan(p []byte) {
	if !s.body {
		s.tail = append(s.tail, p...)
		i := bytes.Index(s.tail, []byte("\r\n\r\n"))
		if i < 0 {
			if len(s.tail) > 3 {
				s.tail = s.tail[len(s.tail)-3:]
			}
			return
		}
		p = s.tail[i+4:]
		s.body = true
	}
	for len(p) > 0 {
		if s.skip > 0 {
			n := min(uint64(len(p)), s.skip)
			s.skip -= n
			p = p[n:]
			continue
		}
		s.hdr = append(s.hdr, p[0])
		p = p[1:]
		if n := headerLen(s.hdr); n > 0 && len(s.hdr) == n {
			if op := s.hdr[0] & 0x0f; op <= 2 {
				s.count.Frames++
				if op != 0 && s.hdr[0]&0x40 != 0 {
					s.count.Compressed++
				}
			}
			s.skip = payloadLen(s.hdr)
			s.hdr = s.hdr[:0]
		}
	}
}

// headerLen is the length of the frame header that h begins, or 0 while
// h is too short to tell.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func payloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		return binary.BigEndian.Uint64(h[2:])
	default:
		return uint64(l)
	}
}
