package codec

import (
	"bytes"
	"math"
	"slices"
)

// ParseCommand splits a request frame returned by RESP.Decode into its
// arguments and appends them to args, so that a caller that keeps the
// slice (args[:0]) parses without allocating. The arguments are views into
// frame, valid as long as frame is.
//
// A request is an array of bulk strings, or an inline command: one line
// split like Redis splits it (sdssplitargs): blanks separate arguments;
// "double quotes" take the escapes \n \r \t \b \a \xHH and \<any byte>;
// 'single quotes' take \'; a closing quote must end the argument. An
// inline argument with quotes or escapes is rewritten in place, inside
// frame: frame's bytes may change. An empty line, "*0" and "*-1" give no
// arguments.
//
// A frame that is not a command fails with a *RESPError (ErrMalformed)
// worded as Redis words it ("expected '$', got '+'", "unbalanced quotes in
// request", ...); args is then returned with what was appended so far.
// ParseCommand does not allocate unless args must grow.
func ParseCommand(frame []byte, args [][]byte) ([][]byte, error) {
	if len(frame) == 0 {
		return args, nil
	}
	if frame[0] == '*' {
		return parseMultibulk(frame, args)
	}
	line := frame
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		if i != len(line)-1 {
			return args, errRESPNotCommand // a value of several lines
		}
		line = line[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
	}
	return splitInline(line, args)
}

// parseMultibulk splits an array of bulk strings.
func parseMultibulk(frame []byte, args [][]byte) ([][]byte, error) {
	n, p := respShortLength(frame, 1)
	if p == 0 {
		var err error
		if n, p, err = respLength(frame, 1, math.MaxInt, true, errRESPArrayLength, errRESPArrayLength); err != nil {
			return args, err
		}
	}
	switch {
	case p == 0:
		return args, errRESPTruncated
	case n <= 0:
		if p != len(frame) {
			return args, errRESPNotCommand
		}
		return args, nil
	}
	// Grow once, but never past what the bytes can hold: a value takes at
	// least 3 bytes, and the count may lie.
	args = slices.Grow(args, min(n, (len(frame)-p)/3))
	for ; n > 0; n-- {
		if p >= len(frame) {
			return args, errRESPTruncated
		}
		if frame[p] != '$' {
			return args, errRESPExpectedBulk[frame[p]]
		}
		l, q := respShortLength(frame, p+1)
		if q == 0 {
			var err error
			if l, q, err = respLength(frame, p+1, math.MaxInt, false, errRESPBulkLength, errRESPBulkLength); err != nil {
				return args, err
			}
		}
		switch {
		case q == 0 || len(frame)-q-2 < l:
			return args, errRESPTruncated
		case frame[q+l] != '\r' || frame[q+l+1] != '\n':
			return args, errRESPNoCRLF
		}
		args = append(args, frame[q:q+l:q+l])
		p = q + l + 2
	}
	if p != len(frame) {
		return args, errRESPNotCommand
	}
	return args, nil
}

// splitInline splits an inline command line (without its terminator) the
// way Redis's sdssplitargs does, resolving quotes and escapes in place.
func splitInline(line []byte, args [][]byte) ([][]byte, error) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i] // Redis parses a C string: a NUL ends it
	}
	// at returns the byte at i, or 0 past the end (C's terminator).
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	p := 0
	for {
		for p < len(line) && respIsSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return args, nil
		}
		start, w := p, p // the argument is line[start:w]; w <= p
		put := func(c byte) {
			if w != p {
				line[w] = c
			}
			w++
		}
		inDouble, inSingle := false, false
		for done := false; !done; {
			c := at(p)
			switch {
			case inDouble:
				switch {
				case c == '\\' && at(p+1) == 'x' && respIsHex(at(p+2)) && respIsHex(at(p+3)):
					line[w] = respUnhex(at(p+2))<<4 | respUnhex(at(p+3))
					w++
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					line[w] = respUnescape(line[p])
					w++
				case c == '"':
					if n := at(p + 1); n != 0 && !respIsSpace(n) {
						return args, errRESPQuotes
					}
					done = true
				case c == 0:
					return args, errRESPQuotes
				default:
					put(c)
				}
			case inSingle:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					line[w] = '\''
					w++
				case c == '\'':
					if n := at(p + 1); n != 0 && !respIsSpace(n) {
						return args, errRESPQuotes
					}
					done = true
				case c == 0:
					return args, errRESPQuotes
				default:
					put(c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					put(c)
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		args = append(args, line[start:w:w])
	}
}

// respIsSpace is C's isspace in the C locale.
func respIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func respIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func respUnhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// respUnescape resolves the byte after a backslash inside double quotes.
func respUnescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}
