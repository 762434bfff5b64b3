package ws

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shoalnet/shoal/internal/bufpool"
)

// Client is a blocking WebSocket client over one TCP connection, for
// tests, tools and the bench: it dials, shakes hands, writes masked
// frames and reads whole messages, answering pings. One goroutine reads;
// writes may come from any goroutine.
type Client struct {
	nc   net.Conn
	br   *bufio.Reader
	rd   FrameReader
	buf  []byte // input not yet taken by rd
	rbuf []byte // what each read fills, made once
	msg  []byte
	wmu  sync.Mutex // serializes writes: pongs from ReadMessage, the caller's
	out  []byte
	sent bool // a close frame has been sent
	// Deflate: permessage-deflate was negotiated (the header given to
	// Dial offered it and the server accepted): compressed messages are
	// decompressed, and WriteCompressed may send them.
	Deflate bool
	Code    int // the close code the server sent, once ReadMessage reports io.EOF
}

// Dial connects to a ws:// URL and performs the opening handshake, with
// extra request header fields.
func Dial(rawURL string, header http.Header) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("ws: Dial: scheme %q (only ws)", u.Scheme)
	}
	nc, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(nc); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey([]byte(key)) {
		nc.Close()
		return nil, fmt.Errorf("ws: Dial: handshake answered %s", resp.Status)
	}
	deflate := strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	return &Client{nc: nc, br: br, Deflate: deflate,
		rd: FrameReader{FromServer: true, MaxFrame: 1 << 30, MaxMessage: 1 << 30, Compressed: deflate}}, nil
}

// NetConn returns the TCP connection.
func (c *Client) NetConn() net.Conn { return c.nc }

// WriteFrame writes one masked frame.
func (c *Client) WriteFrame(op Opcode, fin bool, p []byte) error {
	return c.writeFrame(Header{Fin: fin, Op: op}, p)
}

// WriteCompressed writes a message of one frame compressed with
// permessage-deflate (which must have been negotiated: see Deflate).
func (c *Client) WriteCompressed(op Opcode, p []byte) error {
	return c.writeFrame(Header{Fin: true, Op: op, RSV: rsvDeflate}, deflate(nil, p, 1))
}

func (c *Client) writeFrame(h Header, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h.Masked, h.Length = true, uint64(len(p))
	rand.Read(h.Mask[:])
	c.out = AppendHeader(c.out[:0], h)
	at := len(c.out)
	c.out = append(c.out, p...)
	Mask(h.Mask, 0, c.out[at:])
	op := h.Op
	if op == OpClose {
		c.sent = true
	}
	_, err := c.nc.Write(c.out)
	return err
}

// WriteMessage writes a message of one frame.
func (c *Client) WriteMessage(op Opcode, p []byte) error { return c.WriteFrame(op, true, p) }

// ReadMessage returns the next data message (valid until the next call),
// answering pings on the way. After the server's close frame it answers
// it (unless it answers the client's own) and returns io.EOF, with the
// code in c.Code.
func (c *Client) ReadMessage() (Opcode, []byte, error) {
	c.msg = c.msg[:0]
	var op Opcode
	for {
		f, n, err := c.rd.Next(c.buf)
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			if c.rbuf == nil {
				c.rbuf = make([]byte, 32<<10)
			}
			chunk := c.rbuf
			k, err := c.br.Read(chunk)
			if k == 0 && err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return 0, nil, err
			}
			c.buf = append(c.buf, chunk[:k]...)
			continue
		}
		switch f.Op {
		case OpPing:
			c.WriteFrame(OpPong, true, f.Payload)
		case OpPong:
		case OpClose:
			c.Code, _ = f.CloseCode()
			if !c.sent { // answer the server's close; an answer to ours needs none
				c.WriteFrame(OpClose, true, f.Payload[:min(2, len(f.Payload))])
			}
			c.buf = c.buf[n:]
			return 0, nil, io.EOF
		default:
			if f.Op != OpContinuation {
				op = f.Op
			}
			c.msg = append(c.msg, f.Payload...)
			if f.Fin {
				c.buf = c.buf[n:]
				if c.rd.Deflated() {
					out, err := inflate(c.msg, 1<<30)
					if err != nil {
						return 0, nil, err
					}
					c.msg = append(c.msg[:0], out...)
					bufpool.Put(out)
				}
				return op, c.msg, nil
			}
		}
		c.buf = c.buf[n:]
	}
}

// Close sends a close frame with code and closes the connection.
func (c *Client) Close(code int) error {
	c.WriteFrame(OpClose, true, []byte{byte(code >> 8), byte(code)})
	return c.nc.Close()
}
