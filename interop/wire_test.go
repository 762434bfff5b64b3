package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
)

// wireConn is a client's TCP connection that counts the data frames
// (text, binary, continuation) the client writes after its HTTP request,
// so that a test can tell that a fragmented message left as several
// frames.
type wireConn struct {
	net.Conn
	mu     sync.Mutex
	inHead bool   // still in the HTTP request
	tail   []byte // its last bytes, to find the blank line
	hdr    []byte // the frame header read so far
	skip   uint64 // payload bytes left in the current frame
	frames int
}

// dialWire dials like net.Dialer and returns a wireConn.
func dialWire(ctx context.Context, network, addr string) (*wireConn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c, inHead: true}, nil
}

func (c *wireConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.scan(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Frames is how many data frames have been written.
func (c *wireConn) Frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

func (c *wireConn) scan(p []byte) {
	if c.inHead {
		c.tail = append(c.tail, p...)
		i := bytes.Index(c.tail, []byte("\r\n\r\n"))
		if i < 0 {
			if len(c.tail) > 3 {
				c.tail = c.tail[len(c.tail)-3:]
			}
			return
		}
		p = c.tail[i+4:]
		c.inHead = false
	}
	for len(p) > 0 {
		if c.skip > 0 {
			n := min(uint64(len(p)), c.skip)
			c.skip -= n
			p = p[n:]
			continue
		}
		c.hdr = append(c.hdr, p[0])
		p = p[1:]
		if n := headerLen(c.hdr); n > 0 && len(c.hdr) == n {
			if op := c.hdr[0] & 0x0f; op <= 2 {
				c.frames++
			}
			c.skip = payloadLen(c.hdr)
			c.hdr = c.hdr[:0]
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
