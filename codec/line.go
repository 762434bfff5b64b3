package codec

import (
	"bytes"
	"fmt"
)

// DefaultMaxLine is the longest Line, delimiter excluded, when the
// constructor is given 0.
const DefaultMaxLine = 64 << 10

// Line frames a stream into lines ended by a delimiter. It holds
// configuration only and is safe for concurrent use.
//
// Decode searches at most maxLine plus the delimiter's length bytes, but
// it searches them again on each call: a line that arrives in many small
// pieces costs up to maxLine bytes of scanning per piece.
type Line struct {
	delim []byte // never empty; a private copy
	max   int    // longest line, delimiter excluded, > 0
	crlf  bool   // delim is "\n" and a '\r' before it is part of the delimiter
}

// NewLine returns a codec for lines ended by delim ("\n" if delim is
// empty) of at most maxLine bytes, delimiter excluded (DefaultMaxLine if
// maxLine is 0).
func NewLine(delim []byte, maxLine int) (*Line, error) {
	if len(delim) == 0 {
		delim = []byte{'\n'}
	}
	if maxLine == 0 {
		maxLine = DefaultMaxLine
	}
	if maxLine < 0 {
		return nil, fmt.Errorf("codec: line: negative maxLine %d", maxLine)
	}
	return &Line{delim: bytes.Clone(delim), max: maxLine}, nil
}

// NewLineCRLF returns a codec for lines ended by "\n" or "\r\n", of at
// most maxLine bytes, delimiter excluded (DefaultMaxLine if maxLine is 0).
// Decode strips the '\r' of a "\r\n"; AppendFrame ends lines with "\r\n".
func NewLineCRLF(maxLine int) (*Line, error) {
	l, err := NewLine(nil, maxLine)
	if err != nil {
		return nil, err
	}
	l.crlf = true
	return l, nil
}

// Name returns "line".
func (*Line) Name() string { return "line" }

// Decode returns the first line of buf without its delimiter. It reports
// ErrFrameTooLarge as soon as buf proves the line longer than maxLine:
// for a one-byte delimiter, once more than maxLine bytes are buffered
// without one.
func (l *Line) Decode(buf []byte) ([]byte, int, error) {
	if l.crlf {
		return l.decodeCRLF(buf)
	}
	d := l.delim
	if i := bytes.Index(l.head(buf, len(d)), d); i >= 0 {
		return buf[:i:i], i + len(d), nil
	}
	if len(buf) <= l.max {
		return nil, 0, nil
	}
	// No delimiter starts at or before l.max among the bytes searched. One
	// still may if buf ends with the first bytes of a delimiter that starts
	// there.
	for j := max(len(buf)-len(d)+1, 0); j <= l.max; j++ {
		if bytes.HasPrefix(d, buf[j:]) {
			return nil, 0, nil
		}
	}
	return nil, 0, ErrFrameTooLarge
}

// head returns buf cut to maxLine+extra bytes: the window in which a
// delimiter of extra bytes must end for the line before it to fit.
func (l *Line) head(buf []byte, extra int) []byte {
	if len(buf)-extra > l.max { // l.max+extra cannot overflow then
		return buf[:l.max+extra]
	}
	return buf
}

// decodeCRLF is Decode for lines ended by "\n" or "\r\n".
func (l *Line) decodeCRLF(buf []byte) ([]byte, int, error) {
	i := bytes.IndexByte(l.head(buf, 2), '\n')
	if i < 0 {
		if len(buf) <= l.max || len(buf) == l.max+1 && buf[l.max] == '\r' {
			return nil, 0, nil
		}
		return nil, 0, ErrFrameTooLarge
	}
	end := i
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	if end > l.max {
		return nil, 0, ErrFrameTooLarge
	}
	return buf[:end:end], i + 1, nil
}

// errDelimInMessage is returned by AppendFrame for a message that holds
// the delimiter.
var errDelimInMessage = fmt.Errorf("%w: line: message contains the delimiter", ErrMalformed)

// AppendFrame appends msg and the delimiter ("\r\n" for NewLineCRLF) to
// dst. A message longer than maxLine is ErrMessageTooLarge; one that
// contains the delimiter, or that would end in a delimiter overlapping
// the appended one, is ErrMalformed. On error dst is returned unchanged.
func (l *Line) AppendFrame(dst, msg []byte) ([]byte, error) {
	if len(msg) > l.max {
		return dst, ErrMessageTooLarge
	}
	return l.frameInPlace(append(dst, msg...), len(dst))
}

// headerLen is the number of bytes a frame holds before the message.
func (*Line) headerLen() int { return 0 }

// frameInPlace appends the delimiter to the message dst[start:]. On error
// it returns dst[:start].
func (l *Line) frameInPlace(dst []byte, start int) ([]byte, error) {
	msg := dst[start:]
	switch {
	case len(msg) > l.max:
		return dst[:start], ErrMessageTooLarge
	case l.crlf && bytes.IndexByte(msg, '\n') >= 0:
		return dst[:start], errDelimInMessage
	case l.crlf:
		return append(dst, '\r', '\n'), nil
	}
	dst = append(dst, l.delim...)
	// The first delimiter of the frame must be the one just appended.
	if bytes.Index(dst[start:], l.delim) != len(msg) {
		return dst[:start], errDelimInMessage
	}
	return dst, nil
}
