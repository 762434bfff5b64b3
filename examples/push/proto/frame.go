package proto

import (
	"fmt"

	"github.com/shoalnet/shoal/codec"
)

// FrameHeader is the size of the length prefix of every frame.
const FrameHeader = 4

// DefaultMaxPayload is the largest PUB payload the server accepts unless
// configured otherwise.
const DefaultMaxPayload = 64 << 10

// NewCodec returns the framing of the protocol: a 4-byte big-endian length
// that counts the body after it, stripped on decode. Frames whose body is
// longer than maxBody are rejected (codec.ErrFrameTooLarge on decode,
// codec.ErrMessageTooLarge on encode).
func NewCodec(maxBody int) (*codec.LengthField, error) {
	if maxBody < 1 {
		return nil, fmt.Errorf("proto: max body must be positive, got %d", maxBody)
	}
	return codec.NewLengthField(codec.LengthFieldConfig{
		Size:     FrameHeader,
		Strip:    FrameHeader,
		MaxFrame: FrameHeader + maxBody,
	})
}
