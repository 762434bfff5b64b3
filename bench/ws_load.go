package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/ws"
)

// The WebSocket load client: the echo scenario's closed loop (runClosedLoop)
// over connections upgraded first. It is written for the little CPU it
// leaves the server on a shared machine: a connection's frame is built
// once, with a mask fixed for that connection, and each message only
// stamps (and masks) its first 8 payload bytes; a server frame is checked
// against the one header it must have, and its payload against what was
// sent.

// wsKey is the Sec-WebSocket-Key of every connection (the example key of
// RFC 6455); wsAccept is the answer a server must give to it.
const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

var wsAccept = ws.AcceptKey([]byte(wsKey))

// wsHandshakeMax bounds the 101 answer a client reads.
const wsHandshakeMax = 2 << 10

// wsHandshake returns a setup for runClosedLoop and forEachConn that
// upgrades a connection to addr: it writes the upgrade request and checks
// the 101 answer and its Sec-WebSocket-Accept. Nothing may follow the 101
// before the client has sent a message.
func wsHandshake(addr string) func(i int, c net.Conn) error {
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	return func(_ int, c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		defer c.SetDeadline(time.Time{})
		if _, err := c.Write(req); err != nil {
			return err
		}
		buf := make([]byte, 0, wsHandshakeMax)
		for {
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if end := bytes.Index(buf, crlfcrlf); end >= 0 {
				if end+len(crlfcrlf) != len(buf) {
					return errors.New("ws: bytes after the 101 answer")
				}
				return checkUpgraded(buf[:end+2])
			}
			if err != nil {
				return err
			}
			if len(buf) == cap(buf) {
				return fmt.Errorf("ws: handshake answer over %d bytes", cap(buf))
			}
		}
	}
}

// checkUpgraded checks the head of a handshake answer (its lines, each
// ending in CRLF): status 101 and the Sec-WebSocket-Accept of wsKey.
func checkUpgraded(head []byte) error {
	line, rest := cutLine(head)
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101 ")) {
		return fmt.Errorf("ws: handshake answered %q", line)
	}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		name, value, _ := bytes.Cut(line, []byte(":"))
		if equalFold(name, "Sec-WebSocket-Accept") {
			if got := string(bytes.Trim(value, " \t")); got != wsAccept {
				return fmt.Errorf("ws: Sec-WebSocket-Accept %q, want %q", got, wsAccept)
			}
			return nil
		}
	}
	return errors.New("ws: no Sec-WebSocket-Accept in the 101 answer")
}

// runWSLoad is runLoad over WebSocket: cfg.conns upgraded connections each
// keep exactly cfg.depth binary messages of cfg.size bytes in flight, each
// starting with its send stamp; every echo must be one binary frame with
// the payload sent. It reports like runLoad and calls onWindow the same
// way; the handshakes are done before the warm-up.
func runWSLoad(cfg loadConfig, onWindow func(start bool)) (loadResult, error) {
	switch {
	case cfg.size < stampSize:
		return loadResult{}, fmt.Errorf("message size %d is below %d bytes", cfg.size, stampSize)
	case cfg.size > 0xffff:
		return loadResult{}, fmt.Errorf("message size %d is over 65535 bytes", cfg.size)
	case cfg.depth < 1:
		return loadResult{}, fmt.Errorf("pipeline depth %d is below 1", cfg.depth)
	}
	return runClosedLoop(cfg.addr, cfg.conns, cfg.warmup, cfg.duration, onWindow, cfg.tls, wsHandshake(cfg.addr),
		func(i int, c net.Conn) connWorker { return newWSWorker(i, c, cfg.size, cfg.depth) })
}

// wsWorker drives one upgraded connection.
type wsWorker struct {
	c        net.Conn
	r        *bufio.Reader
	size     int
	depth    int
	mask     [4]byte
	frame    []byte // this connection's client frame: header, mask, masked payload (its stamp overwritten per message)
	echo     []byte // the header of the server frame that echoes it
	out      []byte
	stamp8   [stampSize]byte
	inflight // its tmpl is the payload after the stamp, unmasked
}

func newWSWorker(id int, c net.Conn, size, depth int) *wsWorker {
	payload := make([]byte, size)
	for i := stampSize; i < size; i++ {
		payload[i] = byte(id*31 + i*7 + 1)
	}
	mask := [4]byte{byte(id), byte(id >> 8), 0x5a, 0xa5}
	frame := ws.AppendMaskedFrame(nil, ws.OpBinary, true, mask, payload)
	echo := ws.AppendHeader(nil, ws.Header{Fin: true, Op: ws.OpBinary, Length: uint64(size)})
	flen := len(echo) + size
	return &wsWorker{
		c:        c,
		r:        bufio.NewReaderSize(c, max(min(max(flen*depth, 4<<10), 64<<10), flen)),
		size:     size,
		depth:    depth,
		mask:     mask,
		frame:    frame,
		echo:     echo,
		out:      make([]byte, 0, len(frame)*depth),
		inflight: inflight{tmpl: payload[stampSize:], sent: make([]int64, depth), tally: tally{hist: newHist()}},
	}
}

// appendMsg appends the connection's frame stamped now and remembers the
// stamp in slot.
func (w *wsWorker) appendMsg(out []byte, slot int) []byte {
	t := stamp()
	w.sent[slot] = t
	out = append(out, w.frame...)
	p := out[len(out)-w.size:]
	binary.LittleEndian.PutUint64(w.stamp8[:], uint64(t))
	for i, b := range w.stamp8 {
		p[i] = b ^ w.mask[i&3]
	}
	return out
}

// run writes depth messages, then, for each echo read, checks it and
// writes one more, like loadWorker: the replacements of the echoes already
// buffered go out in one write. A ping is answered with a pong in that
// write; a close frame or anything unexpected ends the connection.
func (w *wsWorker) run(phase *atomic.Int32) {
	w.out = w.out[:0]
	for i := range w.depth {
		w.out = w.appendMsg(w.out, i)
	}
	if _, err := w.c.Write(w.out); err != nil {
		w.fail(phase, err)
		return
	}
	flen := len(w.echo) + w.size
	for {
		w.out = w.out[:0]
		for {
			op, payload, n, err := w.nextFrame()
			if err != nil {
				if errors.Is(err, errFrame) {
					w.mismatch, w.err = true, err
				} else {
					w.fail(phase, err)
				}
				return
			}
			switch op {
			case ws.OpBinary:
				if err := w.check(payload, phase); err != nil {
					w.mismatch, w.err = true, err
					return
				}
				w.out = w.appendMsg(w.out, w.head)
				w.head++
				if w.head == w.depth {
					w.head = 0
				}
			case ws.OpPing:
				w.out = ws.AppendMaskedFrame(w.out, ws.OpPong, true, w.mask, payload)
			case ws.OpPong:
			default:
				w.mismatch, w.err = true, fmt.Errorf("%w: opcode %d", errFrame, op)
				return
			}
			w.r.Discard(n)
			if w.r.Buffered() < flen {
				break
			}
		}
		if len(w.out) > 0 {
			if _, err := w.c.Write(w.out); err != nil {
				w.fail(phase, err)
				return
			}
		}
	}
}

// errFrame marks a server frame the client does not accept.
var errFrame = errors.New("ws: unexpected frame")

// nextFrame peeks at the next server frame, waiting for all of it: its
// opcode, its payload (valid until the next read) and its size. A binary
// frame must be whole and have the echo's header; a control frame, at
// most 125 bytes; a close frame is an error with its code.
func (w *wsWorker) nextFrame() (op ws.Opcode, payload []byte, n int, err error) {
	h, err := w.r.Peek(2)
	if err != nil {
		return 0, nil, 0, err
	}
	op = ws.Opcode(h[0] & 0x0f)
	switch {
	case op == ws.OpBinary:
		n = len(w.echo) + w.size
		f, err := w.r.Peek(n)
		if err != nil {
			return 0, nil, 0, err
		}
		if !bytes.Equal(f[:len(w.echo)], w.echo) {
			return 0, nil, 0, fmt.Errorf("%w: header % x, want % x", errFrame, f[:len(w.echo)], w.echo)
		}
		return op, f[len(w.echo):], n, nil
	case op.IsControl() && h[0]&0xf0 == 0x80 && h[1] <= 125:
		n = 2 + int(h[1])
		f, err := w.r.Peek(n)
		if err != nil {
			return 0, nil, 0, err
		}
		if op == ws.OpClose {
			code := ws.CloseNoStatus
			if len(f) >= 4 {
				code = int(binary.BigEndian.Uint16(f[2:]))
			}
			return 0, nil, 0, fmt.Errorf("%w: the server closed with %d", errFrame, code)
		}
		return op, f[2:], n, nil
	}
	return 0, nil, 0, fmt.Errorf("%w: header % x", errFrame, h)
}

// wsIdleExchange returns the exchange of the wsidle scenario for runIdle:
// the upgrade, then one binary message of idleMsgSize bytes whose echo is
// checked.
func wsIdleExchange(addr string) func(i int, c *net.TCPConn) error {
	handshake := wsHandshake(addr)
	return func(i int, c *net.TCPConn) error {
		if err := handshake(i, c); err != nil {
			return err
		}
		msg := make([]byte, idleMsgSize)
		binary.LittleEndian.PutUint64(msg, uint64(stamp()))
		for j := stampSize; j < len(msg); j++ {
			msg[j] = byte(i*31 + j)
		}
		mask := [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5}
		want := ws.AppendFrame(nil, ws.OpBinary, true, msg)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		defer c.SetDeadline(time.Time{})
		if _, err := c.Write(ws.AppendMaskedFrame(nil, ws.OpBinary, true, mask, msg)); err != nil {
			return err
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("ws: echo % x, want % x", got, want)
		}
		return nil
	}
}
