package http1

// Chunked decodes a chunked request body (RFC 9112 7.1) as it arrives, in
// any split: chunk extensions are skipped, trailer fields are read and
// dropped, and the data comes back as views into the input, without a
// copy. Chunk lines must end with CRLF; a bare LF there is an error, as
// is a size that is not hexadecimal or that takes the body past its
// limit. Make one per body with NewChunked.
type Chunked struct {
	max   int64 // the body limit
	total int64 // data bytes so far
	left  int64 // data bytes left in the current chunk
	state chunkState
	line  int // bytes of the current size, extension or trailer line
	trail int // bytes of trailers so far
	digit bool
}

type chunkState uint8

const (
	csSize      chunkState = iota // hex digits of a chunk size
	csExt                         // a chunk extension, up to its CR
	csSizeLF                      // the LF after a chunk line's CR
	csData                        // chunk data
	csDataCR                      // the CR after chunk data
	csDataLF                      // the LF after it
	csTrailer                     // the start of a trailer line, or the final CRLF
	csTrailerIn                   // inside a trailer line
	csTrailerLF                   // the LF after a trailer line's CR
	csFinalLF                     // the LF of the empty line that ends the body
	csDone
)

const (
	maxChunkLine = 4 << 10  // bytes of a chunk line with its extensions
	maxTrailers  = 16 << 10 // bytes of all trailer lines
)

// NewChunked returns a decoder for one body of at most max bytes of data
// (0: DefaultLimits.MaxBody).
func NewChunked(max int64) *Chunked {
	if max <= 0 {
		max = DefaultLimits.MaxBody
	}
	return &Chunked{max: max}
}

// Reset prepares c for another body.
func (c *Chunked) Reset(max int64) { *c = *NewChunked(max) }

// Done reports whether the whole body, trailers included, has been read.
func (c *Chunked) Done() bool { return c.state == csDone }

// Next decodes from in: it returns body data (a view into in, possibly
// empty) and how many bytes of in it consumed. Call it again with the rest
// of the input, and with more input once it consumes nothing, until Done.
// Errors are *Error (ErrChunk, ErrBodyTooLarge).
func (c *Chunked) Next(in []byte) (data []byte, n int, err error) {
	for n < len(in) && c.state != csDone {
		if c.state == csData {
			k := int(min(c.left, int64(len(in)-n)))
			data = in[n : n+k]
			n += k
			if c.left -= int64(k); c.left == 0 {
				c.state = csDataCR
			}
			return data, n, nil
		}
		b := in[n]
		n++
		if err := c.step(b); err != nil {
			return nil, n, err
		}
	}
	return nil, n, nil
}

// step advances the line states by one byte.
func (c *Chunked) step(b byte) error {
	switch c.state {
	case csSize:
		if c.line++; c.line > maxChunkLine {
			return ErrChunk.with("chunk line too long")
		}
		switch v := unhex(b); {
		case v >= 0:
			if c.left > (c.max-c.total)>>4 { // the next digit would pass the limit
				return ErrBodyTooLarge
			}
			c.left, c.digit = c.left<<4|int64(v), true
		case !c.digit:
			return ErrChunk.with("chunk size")
		case b == '\r':
			c.state = csSizeLF
		case b == ';' || b == ' ' || b == '\t':
			c.state = csExt
		default:
			return ErrChunk.with("chunk size")
		}
	case csExt:
		if c.line++; c.line > maxChunkLine {
			return ErrChunk.with("chunk extension too long")
		}
		switch {
		case b == '\r':
			c.state = csSizeLF
		case b < ' ' && b != '\t' || b == 0x7f:
			return ErrChunk.with("control byte in a chunk extension")
		}
	case csSizeLF:
		if b != '\n' {
			return ErrChunk.with("chunk line not ended by CRLF")
		}
		if c.total += c.left; c.total > c.max {
			return ErrBodyTooLarge
		}
		c.line, c.digit = 0, false
		if c.left == 0 {
			c.state = csTrailer
		} else {
			c.state = csData
		}
	case csDataCR:
		return c.expect(b, '\r', csDataLF, "chunk data not followed by CRLF")
	case csDataLF:
		return c.expect(b, '\n', csSize, "chunk data not followed by CRLF")
	case csTrailer:
		if b == '\r' {
			c.state = csFinalLF
			return nil
		}
		c.state = csTrailerIn
		return c.trailerByte(b)
	case csTrailerIn:
		if b == '\r' {
			c.state = csTrailerLF
			return nil
		}
		return c.trailerByte(b)
	case csTrailerLF:
		return c.expect(b, '\n', csTrailer, "trailer line not ended by CRLF")
	case csFinalLF:
		return c.expect(b, '\n', csDone, "body not ended by CRLF")
	}
	return nil
}

// expect moves to next if b is want, and fails with reason otherwise.
func (c *Chunked) expect(b, want byte, next chunkState, reason string) error {
	if b != want {
		return ErrChunk.with(reason)
	}
	c.state = next
	return nil
}

// trailerByte takes one byte of a trailer line, which is read and dropped.
func (c *Chunked) trailerByte(b byte) error {
	if c.trail++; c.trail > maxTrailers {
		return ErrHeadersTooLarge.with("trailers")
	}
	if b < ' ' && b != '\t' || b == 0x7f {
		return ErrChunk.with("control byte in a trailer")
	}
	return nil
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}
