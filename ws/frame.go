package ws

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 5.2).
type Opcode byte

const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode " + string("0123456789abcdef"[op&0xF])
}

// Header is a frame header as it is on the wire.
type Header struct {
	Fin    bool
	RSV    byte // the three reserved bits, as bits 2..0 (RSV1 = 4)
	Op     Opcode
	Masked bool
	Mask   [4]byte
	Length uint64 // the payload's length
}

// MaxHeaderLen is the longest frame header: 2 bytes, 8 of length, 4 of
// mask.
const MaxHeaderLen = 14

// ParseHeader parses the frame header at the start of b. It returns the
// header and its length, or n == 0 when b holds only part of it. The only
// error is a 64-bit length with its top bit set (RFC 6455 5.2).
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.RSV = (b[0] >> 4) & 0x7
	h.Op = Opcode(b[0] & 0xF)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.Length, n = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		h.Length, n = binary.BigEndian.Uint64(b[2:]), 10
		if h.Length>>63 != 0 {
			return h, 0, protocolError("frame length has its top bit set")
		}
	default:
		h.Length = uint64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.Mask[:], b[n:])
		n += 4
	}
	return h, n, nil
}

// AppendHeader appends h to dst in its shortest form.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Op&0xF) | h.RSV<<4
	if h.Fin {
		b0 |= 0x80
	}
	var m byte
	if h.Masked {
		m = 0x80
	}
	switch {
	case h.Length <= 125:
		dst = append(dst, b0, m|byte(h.Length))
	case h.Length <= 0xFFFF:
		dst = append(dst, b0, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, h.Length)
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// AppendFrame appends a whole unmasked frame, as a server sends it.
func AppendFrame(dst []byte, op Opcode, fin bool, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: fin, Op: op, Length: uint64(len(payload))})
	return append(dst, payload...)
}

// AppendMaskedFrame appends a whole frame masked with mask, as a client
// sends it.
func AppendMaskedFrame(dst []byte, op Opcode, fin bool, mask [4]byte, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: fin, Op: op, Masked: true, Mask: mask, Length: uint64(len(payload))})
	start := len(dst)
	dst = append(dst, payload...)
	Mask(mask, 0, dst[start:])
	return dst
}

// AppendClose appends a close frame with code and reason (no payload for
// CloseNoStatus). The reason is cut to fit the 125 bytes of a control
// frame, on a UTF-8 boundary.
func AppendClose(dst []byte, code int, reason string) []byte {
	if code == CloseNoStatus {
		return AppendFrame(dst, OpClose, true, nil)
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for i := 0; i < 3 && !utf8.ValidString(reason); i++ { // a code point was cut
			reason = reason[:len(reason)-1]
		}
	}
	dst = AppendHeader(dst, Header{Fin: true, Op: OpClose, Length: uint64(2 + len(reason))})
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// Mask XORs p in place with mask, p starting at offset pos of the
// payload (the key repeats every 4 bytes). Masking twice unmasks.
func Mask(mask [4]byte, pos int, p []byte) {
	key := binary.LittleEndian.Uint32(mask[:])
	key = bits.RotateLeft32(key, -8*(pos&3))
	k64 := uint64(key) | uint64(key)<<32
	for len(p) >= 8 {
		v := binary.LittleEndian.Uint64(p)
		binary.LittleEndian.PutUint64(p, v^k64)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= byte(key >> (8 * (i & 3)))
	}
}
