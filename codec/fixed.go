package codec

import "fmt"

// Fixed frames a stream into frames of one fixed size. It holds
// configuration only and is safe for concurrent use.
type Fixed struct {
	size int // > 0
}

// errFixedSize is returned by AppendFrame for a message of another size.
var errFixedSize = fmt.Errorf("%w: fixed: message is not the frame size", ErrMalformed)

// NewFixed returns a codec for frames of size bytes, size > 0.
func NewFixed(size int) (*Fixed, error) {
	if size <= 0 {
		return nil, fmt.Errorf("codec: fixed: size %d: want > 0", size)
	}
	return &Fixed{size: size}, nil
}

// Name returns "fixed".
func (*Fixed) Name() string { return "fixed" }

// Decode returns the first size bytes of buf. It never fails.
func (f *Fixed) Decode(buf []byte) ([]byte, int, error) {
	if len(buf) < f.size {
		return nil, 0, nil
	}
	return buf[:f.size:f.size], f.size, nil
}

// AppendFrame appends msg to dst. A message of another size than the
// frame size is ErrMalformed, and dst is returned unchanged.
func (f *Fixed) AppendFrame(dst, msg []byte) ([]byte, error) {
	if len(msg) != f.size {
		return dst, errFixedSize
	}
	return append(dst, msg...), nil
}
