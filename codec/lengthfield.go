package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// DefaultLengthFieldMaxFrame is the largest LengthField frame, header included, when
// LengthFieldConfig.MaxFrame is 0.
const DefaultLengthFieldMaxFrame = 16 << 20

// LengthFieldConfig describes a length-prefixed framing with the
// parameters of Netty's LengthFieldBasedFrameDecoder. A frame is laid out
// as
//
//	[Offset bytes][length field: Size bytes][length+Adjustment bytes]
//
// where the bytes after the length field number the field's value plus
// Adjustment. The decoded frame is the whole frame minus its first Strip
// bytes.
type LengthFieldConfig struct {
	Offset       int  // bytes before the length field, >= 0
	Size         int  // length field size: 1, 2, 3, 4 or 8
	LittleEndian bool // byte order of the length field; big endian by default
	Adjustment   int  // added to the length value to get the number of bytes that follow the length field
	Strip        int  // bytes stripped from the start of the decoded frame (Offset+Size drops the header)
	MaxFrame     int  // largest frame, header included; 0 means DefaultLengthFieldMaxFrame
}

// LengthField is the length-prefixed framing described by a
// LengthFieldConfig. It holds configuration only and is safe for
// concurrent use.
type LengthField struct {
	cfg    LengthFieldConfig // validated; MaxFrame is set
	header int               // Offset + Size: the bytes Decode needs before it knows a frame's length
	// minRaw and maxRaw bound the length-field values that make a frame:
	// below minRaw the adjusted length is negative, above maxRaw the frame
	// exceeds MaxFrame (or int).
	minRaw, maxRaw uint64
	encErr         error // why AppendFrame cannot encode for this configuration; nil if it can
}

// NewLengthField validates cfg and returns its codec. An impossible
// configuration (a length field of another size, a header larger than
// MaxFrame, an Adjustment that no length value can satisfy) is an error.
func NewLengthField(cfg LengthFieldConfig) (*LengthField, error) {
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultLengthFieldMaxFrame
	}
	switch {
	case cfg.Size != 1 && cfg.Size != 2 && cfg.Size != 3 && cfg.Size != 4 && cfg.Size != 8:
		return nil, fmt.Errorf("codec: length-field: Size %d: want 1, 2, 3, 4 or 8", cfg.Size)
	case cfg.Offset < 0:
		return nil, fmt.Errorf("codec: length-field: negative Offset %d", cfg.Offset)
	case cfg.Strip < 0:
		return nil, fmt.Errorf("codec: length-field: negative Strip %d", cfg.Strip)
	case cfg.MaxFrame < 0:
		return nil, fmt.Errorf("codec: length-field: negative MaxFrame %d", cfg.MaxFrame)
	case cfg.Offset > cfg.MaxFrame-cfg.Size:
		return nil, fmt.Errorf("codec: length-field: header (Offset %d + Size %d) larger than MaxFrame %d",
			cfg.Offset, cfg.Size, cfg.MaxFrame)
	case cfg.Strip > cfg.MaxFrame:
		return nil, fmt.Errorf("codec: length-field: Strip %d larger than MaxFrame %d", cfg.Strip, cfg.MaxFrame)
	}
	l := &LengthField{cfg: cfg, header: cfg.Offset + cfg.Size}
	maxBody := cfg.MaxFrame - l.header // bytes after the length field, >= 0
	fieldMax := uint64(math.MaxUint64) >> (64 - 8*cfg.Size)
	adj := cfg.Adjustment
	switch {
	case adj > maxBody:
		return nil, fmt.Errorf("codec: length-field: Adjustment %d makes every frame larger than MaxFrame %d",
			adj, cfg.MaxFrame)
	case adj >= 0:
		l.maxRaw = uint64(maxBody - adj)
	default:
		l.minRaw = uint64(^adj) + 1 // -adj without overflow
		l.maxRaw = uint64(maxBody) + l.minRaw
	}
	l.maxRaw = min(l.maxRaw, fieldMax, math.MaxInt)
	if l.minRaw > l.maxRaw {
		return nil, fmt.Errorf("codec: length-field: Adjustment %d is negative for every length a %d-byte field can hold",
			adj, cfg.Size)
	}
	if cfg.Strip != l.header {
		l.encErr = fmt.Errorf("codec: length-field: cannot encode when Strip (%d) is not Offset+Size (%d): "+
			"the decoded frame would not be the message: %w", cfg.Strip, l.header, errors.ErrUnsupported)
	}
	return l, nil
}

// Name returns "length-field".
func (*LengthField) Name() string { return "length-field" }

// Decode returns the first frame of buf, without its first Strip bytes.
// As soon as the length field is readable it rejects a frame longer than
// MaxFrame (ErrFrameTooLarge) and a negative adjusted length or one
// shorter than Strip (ErrMalformed), without waiting for the body.
func (l *LengthField) Decode(buf []byte) ([]byte, int, error) {
	if len(buf) < l.header {
		return nil, 0, nil
	}
	raw := getUint(buf[l.cfg.Offset:l.header], l.cfg.LittleEndian)
	if raw < l.minRaw {
		return nil, 0, ErrMalformed
	}
	if raw > l.maxRaw {
		return nil, 0, ErrFrameTooLarge
	}
	// minRaw <= raw <= maxRaw keeps int(raw)+Adjustment in [0, MaxFrame-header].
	n := int(raw) + l.cfg.Adjustment + l.header
	if n < l.cfg.Strip {
		return nil, 0, ErrMalformed
	}
	if len(buf) < n {
		return nil, 0, nil
	}
	return buf[l.cfg.Strip:n:n], n, nil
}

// AppendFrame appends Offset zero bytes, the length field and msg to dst,
// so that Decode returns msg. It needs Strip == Offset+Size (otherwise it
// returns an error wrapping errors.ErrUnsupported). A message that would
// make a frame above MaxFrame or a length the field cannot hold is
// ErrMessageTooLarge; one shorter than a positive Adjustment is
// ErrMalformed. On error dst is returned unchanged.
func (l *LengthField) AppendFrame(dst, msg []byte) ([]byte, error) {
	raw, err := l.rawFor(len(msg))
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = slices.Grow(dst, l.header+len(msg))[:start+l.header]
	l.putHeader(dst[start:], raw)
	return append(dst, msg...), nil
}

// headerLen is the number of bytes a frame holds before the message.
func (l *LengthField) headerLen() int { return l.header }

// frameInPlace writes the header of the frame at dst[start:], whose
// message, dst[start+headerLen():], is already in place. On error it
// returns dst[:start].
func (l *LengthField) frameInPlace(dst []byte, start int) ([]byte, error) {
	raw, err := l.rawFor(len(dst) - start - l.header)
	if err != nil {
		return dst[:start], err
	}
	l.putHeader(dst[start:], raw)
	return dst, nil
}

// rawFor returns the length-field value that announces a message of
// msgLen bytes.
func (l *LengthField) rawFor(msgLen int) (uint64, error) {
	adj := l.cfg.Adjustment
	switch {
	case l.encErr != nil:
		return 0, l.encErr
	case msgLen > l.cfg.MaxFrame-l.header:
		return 0, ErrMessageTooLarge
	case adj > msgLen:
		return 0, ErrMalformed
	}
	var raw uint64
	if adj < 0 {
		raw = uint64(msgLen) + l.minRaw
	} else {
		raw = uint64(msgLen - adj)
	}
	if raw > l.maxRaw {
		return 0, ErrMessageTooLarge
	}
	return raw, nil
}

// putHeader writes Offset zero bytes and the length field raw to b.
func (l *LengthField) putHeader(b []byte, raw uint64) {
	clear(b[:l.cfg.Offset])
	putUint(b[l.cfg.Offset:l.header], raw, l.cfg.LittleEndian)
}

// getUint reads the unsigned integer of len(b) bytes (1, 2, 3, 4 or 8).
func getUint(b []byte, little bool) uint64 {
	switch {
	case len(b) == 1:
		return uint64(b[0])
	case len(b) == 2 && little:
		return uint64(binary.LittleEndian.Uint16(b))
	case len(b) == 2:
		return uint64(binary.BigEndian.Uint16(b))
	case len(b) == 4 && little:
		return uint64(binary.LittleEndian.Uint32(b))
	case len(b) == 4:
		return uint64(binary.BigEndian.Uint32(b))
	case len(b) == 8 && little:
		return binary.LittleEndian.Uint64(b)
	case len(b) == 8:
		return binary.BigEndian.Uint64(b)
	case little:
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	default:
		return uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	}
}

// putUint writes v into the len(b) bytes of b (1, 2, 3, 4 or 8).
func putUint(b []byte, v uint64, little bool) {
	for i := range b {
		shift := 8 * (len(b) - 1 - i)
		if little {
			shift = 8 * i
		}
		b[i] = byte(v >> shift)
	}
}
