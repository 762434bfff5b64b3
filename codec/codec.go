// Package codec frames byte streams into messages: length-field (Netty
// style), line/delimiter, fixed length, RESP (Redis) and JSON. It is pure
// code: no I/O, no goroutines, and no allocation on the decode path.
//
// A Decoder finds whole frames in the bytes that have arrived; a frame it
// returns is a view into those bytes, valid only until the callback that
// received it returns (copy it to keep it). An Encoder appends a framed
// message to a buffer. Codecs are safe for concurrent use: they hold
// configuration only, no per-connection state.
//
// Every decoder enforces a maximum frame size and reports hostile input
// with a typed error: ErrFrameTooLarge, ErrMalformed. The server closes the
// connection with that error as the reason, after flushing what it already
// answered.
//
// # Framings
//
//   - [NewLengthField]: a length field of 1, 2, 3, 4 or 8 bytes in either
//     byte order, after an optional offset, with Netty's adjustment and
//     strip parameters (LengthFieldBasedFrameDecoder).
//   - [NewLine] and [NewLineCRLF]: lines ended by a delimiter, "\n" by
//     default, or by "\n" or "\r\n".
//   - [NewFixed]: frames of one fixed size.
//   - [NewJSON]: one JSON value per frame of a Line or a LengthField,
//     validated and encoded with github.com/bytedance/sonic.
package codec

import "errors"

var (
	// ErrFrameTooLarge reports a frame (or a declared length) above the
	// codec's limit.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrMalformed reports input that cannot be a frame of this codec.
	ErrMalformed = errors.New("codec: malformed frame")
	// ErrMessageTooLarge is returned by encoders for a message the framing
	// cannot carry (a length that does not fit the length field).
	ErrMessageTooLarge = errors.New("codec: message too large for the framing")
)

// Decoder splits a byte stream into frames.
type Decoder interface {
	// Decode looks for the first whole frame at the start of buf. It
	// returns the frame (a view into buf, after any stripping the codec
	// does) and n, the number of bytes of buf the frame spans, n > 0. When
	// buf holds no whole frame yet it returns n == 0 and a nil error. A
	// non-nil error means the input can never become valid.
	Decode(buf []byte) (frame []byte, n int, err error)
}

// Encoder frames messages.
type Encoder interface {
	// AppendFrame appends msg, framed, to dst and returns the extended
	// slice. It allocates only if dst must grow.
	AppendFrame(dst, msg []byte) ([]byte, error)
}

// Codec decodes and encodes one framing.
type Codec interface {
	Decoder
	Encoder
	// Name identifies the codec in metrics and logs ("length-field",
	// "line", "fixed", "resp", "json").
	Name() string
}
