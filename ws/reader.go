package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// Default limits of a FrameReader.
const (
	DefaultMaxFrame   = 16 << 20
	DefaultMaxMessage = 16 << 20
)

// Frame is one frame whose payload has been unmasked and checked.
type Frame struct {
	Header
	// Payload is a view into the input given to Next, unmasked in place.
	Payload []byte
}

// CloseCode returns the code of a close frame (CloseNoStatus when it has
// none) and its reason.
func (f *Frame) CloseCode() (code int, reason []byte) {
	if len(f.Payload) < 2 {
		return CloseNoStatus, nil
	}
	return int(binary.BigEndian.Uint16(f.Payload)), f.Payload[2:]
}

// FrameReader takes frames from a byte stream that arrives in any split
// and checks the rules of RFC 6455 as each byte arrives: the header as
// soon as it is whole (reserved bits, opcodes, masking, control frames at
// most 125 bytes and never fragmented, continuation order, the frame and
// message limits), the UTF-8 of a text message as its payload arrives,
// across frames, so that a bad byte fails the connection before the rest
// of the frame is read, and a close frame's code and reason.
//
// The zero FrameReader reads a client's frames (they must be masked) with
// the default limits.
type FrameReader struct {
	// MaxFrame and MaxMessage bound a frame's payload and a message's (the
	// sum of its fragments); 0 takes the defaults. Past them: 1009.
	MaxFrame, MaxMessage int64
	// FromServer reads a server's frames, which must not be masked (a
	// client's reader).
	FromServer bool
	// Compressed allows RSV1 on the first frame of a data message
	// (permessage-deflate negotiated). Such a message's UTF-8 is not
	// checked here: it is compressed.
	Compressed bool

	// The frame whose payload is arriving: its header has been checked
	// and the first done bytes of its payload unmasked and checked, in
	// place in the input, which the caller keeps from call to call.
	cur  Header
	done int
	hlen uint8
	open bool

	inMsg      bool // a fragmented message is open
	msgText    bool // ... and it is text, checked as UTF-8
	msgDeflate bool // ... and it is compressed
	text       utf8State
	msgLen     int64 // its payload so far
}

// Next returns the next whole frame at the start of in and the bytes it
// took. n == 0 with a nil error means in holds part of a frame: call
// again with in extended by what arrives next (its first bytes may have
// been unmasked in place already, which the reader remembers). An error
// is a *CloseError: close the connection with its code.
func (r *FrameReader) Next(in []byte) (f Frame, n int, err error) {
	if !r.open {
		h, hl, err := ParseHeader(in)
		if err != nil || hl == 0 {
			return f, 0, err
		}
		if err := r.check(h); err != nil {
			return f, 0, err
		}
		r.cur, r.hlen, r.done, r.open = h, uint8(hl), 0, true
	}
	h := r.cur
	hlen := int(r.hlen)
	end := hlen + int(h.Length)
	avail := min(len(in), end)
	if p := in[hlen+r.done : avail]; len(p) > 0 {
		if h.Masked {
			Mask(h.Mask, r.done, p)
		}
		r.done += len(p)
		if r.checksText(h) && !r.text.feed(p) {
			return f, 0, &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in a text message"}
		}
	}
	if avail < end {
		return f, 0, nil
	}
	r.open = false
	f = Frame{Header: h, Payload: in[hlen:end]}
	if err := r.finish(&f); err != nil {
		return Frame{}, 0, err
	}
	return f, end, nil
}

// checksText reports whether the payload of a frame with h is text to
// check as UTF-8.
func (r *FrameReader) checksText(h Header) bool {
	switch h.Op {
	case OpText:
		return h.RSV == 0
	case OpContinuation:
		return r.msgText
	}
	return false
}

// check applies the rules a frame's header must meet.
func (r *FrameReader) check(h Header) error {
	maxFrame, maxMsg := r.MaxFrame, r.MaxMessage
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessage
	}
	switch {
	case h.Masked == r.FromServer:
		if r.FromServer {
			return protocolError("masked frame from the server")
		}
		return protocolError("unmasked frame from the client")
	case h.Op > OpBinary && h.Op < OpClose, h.Op > OpPong:
		return protocolError("reserved opcode " + h.Op.String())
	case h.RSV&^4 != 0, h.RSV != 0 && !(r.Compressed && (h.Op == OpText || h.Op == OpBinary)):
		return protocolError("reserved bits set")
	}
	if h.Op.IsControl() {
		switch {
		case !h.Fin:
			return protocolError("fragmented control frame")
		case h.Length > 125:
			return protocolError("control frame over 125 bytes")
		}
		return nil
	}
	switch {
	case h.Op == OpContinuation && !r.inMsg:
		return protocolError("continuation frame without a message")
	case h.Op != OpContinuation && r.inMsg:
		return protocolError("new message before the last one ended")
	case h.Length > uint64(maxFrame):
		return &CloseError{Code: CloseTooBig, Reason: "frame over the size limit"}
	}
	msgLen := int64(h.Length)
	if h.Op == OpContinuation {
		msgLen += r.msgLen
	}
	if msgLen > maxMsg {
		return &CloseError{Code: CloseTooBig, Reason: "message over the size limit"}
	}
	if h.Op != OpContinuation {
		r.msgText, r.msgDeflate = h.Op == OpText && h.RSV == 0, h.RSV != 0
		r.text.reset()
	}
	r.inMsg, r.msgLen = !h.Fin, msgLen
	return nil
}

// finish checks what can only be checked on a whole frame.
func (r *FrameReader) finish(f *Frame) error {
	switch f.Op {
	case OpClose:
		if len(f.Payload) == 1 {
			return protocolError("close frame with a 1-byte payload")
		}
		if len(f.Payload) >= 2 {
			code, reason := f.CloseCode()
			if !ValidCloseCode(code) {
				return protocolError("invalid close code")
			}
			if !utf8.Valid(reason) {
				return &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in the close reason"}
			}
		}
	case OpPing, OpPong:
	default:
		if f.Fin && r.checksText(f.Header) && !r.text.complete() {
			return &CloseError{Code: CloseInvalidPayload, Reason: "text message ends inside a code point"}
		}
		if f.Fin {
			r.msgText, r.msgLen = false, 0
		}
	}
	return nil
}

// InMessage reports whether a fragmented message is open (its last frame
// has not come).
func (r *FrameReader) InMessage() bool { return r.inMsg }

// Deflated reports whether the message of the last data frame is
// compressed (RSV1 on its first frame).
func (r *FrameReader) Deflated() bool { return r.msgDeflate }
