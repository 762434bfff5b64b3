package codec

import "fmt"

// JSON carries one JSON value per frame of another framing: a Line
// (newline-delimited JSON) or a LengthField. On amd64 and arm64 (Linux,
// macOS, Windows and the BSDs) it validates, decodes and encodes with
// github.com/bytedance/sonic in its default configuration (no HTML
// escaping, no UTF-8 validation); sonic does not build on other platforms,
// where JSON uses encoding/json, as sonic itself would fall back to. It holds configuration only and is
// safe for concurrent use.
type JSON struct {
	framing Codec
	inPlace inPlaceFramer // framing, if it can frame a message encoded in place; nil otherwise
	max     int           // longest message; 0 means the framing's limit only
}

// inPlaceFramer is implemented by framings that can frame a message
// already encoded into the output buffer, which saves AppendMessage a
// copy.
type inPlaceFramer interface {
	// headerLen is the number of bytes a frame holds before its message.
	headerLen() int
	// frameInPlace completes the frame at dst[start:]: headerLen()
	// reserved bytes, then the message. On error it returns dst[:start].
	frameInPlace(dst []byte, start int) ([]byte, error)
}

// errInvalidJSON is returned for a frame that is not one JSON value.
var errInvalidJSON = fmt.Errorf("%w: json: invalid JSON", ErrMalformed)

// NewJSON returns a codec for JSON values framed by framing, of at most
// maxMessage bytes each (0 or less: the framing's own limit only). A nil
// framing means newline-delimited JSON: a Line with "\n" and
// DefaultMaxLine.
//
// The framing's limit is what protects the buffers: set it to about
// maxMessage so that an oversized message is rejected from its header or
// its first maxLine bytes, rather than once it has arrived whole.
func NewJSON(framing Codec, maxMessage int) *JSON {
	if framing == nil {
		framing = &Line{delim: []byte{'\n'}, max: DefaultMaxLine}
	}
	j := &JSON{framing: framing, max: max(maxMessage, 0)}
	j.inPlace, _ = framing.(inPlaceFramer)
	return j
}

// Name returns "json".
func (*JSON) Name() string { return "json" }

// Decode returns the raw bytes of the first JSON value of buf, as framed
// by the framing, after checking that they are one valid JSON value
// (surrounding whitespace allowed; UTF-8 is not checked, as with
// encoding/json.Valid). Invalid JSON, an empty frame
// included, is ErrMalformed; a message over maxMessage is
// ErrFrameTooLarge; the framing's errors are returned as they are.
func (j *JSON) Decode(buf []byte) ([]byte, int, error) {
	frame, n, err := j.framing.Decode(buf)
	switch {
	case err != nil:
		return nil, 0, err
	case n == 0:
		return nil, 0, nil
	case j.max > 0 && len(frame) > j.max:
		return nil, 0, ErrFrameTooLarge
	case !jsonValid(frame):
		return nil, 0, errInvalidJSON
	}
	return frame, n, nil
}

// Unmarshal decodes the JSON value frame into v. Strings in v do not
// refer to frame, so v stays valid after frame's buffer is reused. An
// error wraps ErrMalformed and the decoder's description.
func (j *JSON) Unmarshal(frame []byte, v any) error {
	if err := jsonUnmarshal(frame, v); err != nil {
		return fmt.Errorf("%w: json: %w", ErrMalformed, err)
	}
	return nil
}

// AppendMessage appends v, marshalled and framed, to dst. With a Line or
// LengthField framing it encodes straight into dst. A value that cannot
// be marshalled is the marshaller's error; a message over maxMessage or the
// framing's limit is ErrMessageTooLarge. On error dst is returned
// unchanged.
func (j *JSON) AppendMessage(dst []byte, v any) ([]byte, error) {
	if j.inPlace == nil {
		msg, err := jsonAppend(nil, v)
		if err != nil {
			return dst, fmt.Errorf("codec: json: %w", err)
		}
		if j.max > 0 && len(msg) > j.max {
			return dst, ErrMessageTooLarge
		}
		return j.framing.AppendFrame(dst, msg)
	}
	start, hdr := len(dst), j.inPlace.headerLen()
	dst, err := jsonAppend(append(dst, make([]byte, hdr)...), v)
	if err != nil {
		return dst[:start], fmt.Errorf("codec: json: %w", err)
	}
	if j.max > 0 && len(dst)-start-hdr > j.max {
		return dst[:start], ErrMessageTooLarge
	}
	return j.inPlace.frameInPlace(dst, start)
}

// AppendFrame frames msg, an already encoded JSON value, and appends it
// to dst. msg must be valid JSON (ErrMalformed) of at most maxMessage
// bytes (ErrMessageTooLarge); the framing may refuse it too. On error dst
// is returned unchanged.
func (j *JSON) AppendFrame(dst, msg []byte) ([]byte, error) {
	if j.max > 0 && len(msg) > j.max {
		return dst, ErrMessageTooLarge
	}
	if !jsonValid(msg) {
		return dst, errInvalidJSON
	}
	return j.framing.AppendFrame(dst, msg)
}
