package codec

import (
	"bytes"
	"encoding/binary"
)

// Defaults of RESPConfig, used for fields left at zero.
const (
	DefaultRESPMaxBulk   = 64 << 20 // bytes of one bulk string
	DefaultRESPMaxArray  = 1 << 20  // elements of one aggregate
	DefaultRESPMaxInline = 64 << 10 // bytes of one line
	DefaultRESPMaxDepth  = 8        // nesting of aggregates
)

// RESPConfig holds the limits of a RESP codec. A field that is zero or
// negative takes its default.
type RESPConfig struct {
	// MaxBulk is the largest bulk string, blob error or verbatim string,
	// in bytes (default 64 MiB; Redis allows 512 MiB).
	MaxBulk int
	// MaxArray is the largest element count of an aggregate (a map or an
	// attribute of n pairs counts 2n) (default 1<<20).
	MaxArray int
	// MaxInline is the longest line: an inline command, a simple string,
	// an error, a number (default 64 KiB, as in Redis).
	MaxInline int
	// MaxDepth is the deepest nesting of aggregates; a flat command array
	// has depth 1 (default 8).
	MaxDepth int
}

// RESP frames the Redis serialization protocol: RESP2 and the RESP3 types
// (null, double, boolean, big number, blob error, verbatim string, map,
// set, attribute, push). It also accepts inline commands, the lines that
// telnet users and redis-benchmark's PING_INLINE send.
//
// Decode returns the raw bytes of one whole value, or of one inline line
// with its terminator, so the frame is always buf[:n]. Decode works on
// requests and on replies alike; ParseCommand splits a request frame into
// arguments. AppendFrame appends msg unchanged: messages are RESP already,
// built with the Append helpers (AppendBulk, AppendInt, ...).
//
// A RESP holds configuration only and is safe for concurrent use.
//
// Decode keeps no state between calls: when a large aggregate arrives in
// many reads, each call scans it again from its start, so its cost grows
// with the square of the number of reads (bounded by MaxArray, MaxDepth and
// the server's WithMaxBufferedInput). Bulk strings do not have that cost:
// their declared length is checked, not their bytes.
type RESP struct {
	maxBulk, maxArray, maxInline, maxDepth int
}

// NewRESP returns a RESP codec with the limits of cfg.
func NewRESP(cfg RESPConfig) *RESP {
	orDefault := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	return &RESP{
		maxBulk:   orDefault(cfg.MaxBulk, DefaultRESPMaxBulk),
		maxArray:  orDefault(cfg.MaxArray, DefaultRESPMaxArray),
		maxInline: orDefault(cfg.MaxInline, DefaultRESPMaxInline),
		maxDepth:  orDefault(cfg.MaxDepth, DefaultRESPMaxDepth),
	}
}

// Name returns "resp".
func (*RESP) Name() string { return "resp" }

// AppendFrame appends msg, which must already be RESP, unchanged.
func (*RESP) AppendFrame(dst, msg []byte) ([]byte, error) { return append(dst, msg...), nil }

// RESPError is the error the RESP codec returns for input it rejects.
// errors.Is matches it with its Kind, ErrFrameTooLarge or ErrMalformed.
// Reason is worded like the protocol errors of Redis, so a server can
// answer "-ERR Protocol error: " + Reason before it closes the connection.
type RESPError struct {
	Kind   error
	Reason string
}

func (e *RESPError) Error() string { return e.Kind.Error() + ": resp: " + e.Reason }

// Unwrap returns Kind.
func (e *RESPError) Unwrap() error { return e.Kind }

// The errors of Decode and ParseCommand. They are allocated once: hostile
// input costs no allocation.
var (
	errRESPInlineTooLarge = &RESPError{ErrFrameTooLarge, "too big inline request"}
	errRESPLineTooLarge   = &RESPError{ErrFrameTooLarge, "too big line"}
	errRESPBulkTooLarge   = &RESPError{ErrFrameTooLarge, "invalid bulk length"}
	errRESPArrayTooLarge  = &RESPError{ErrFrameTooLarge, "invalid multibulk length"}
	errRESPTooDeep        = &RESPError{ErrFrameTooLarge, "aggregates nested too deep"}
	errRESPBulkLength     = &RESPError{ErrMalformed, "invalid bulk length"}
	errRESPArrayLength    = &RESPError{ErrMalformed, "invalid multibulk length"}
	errRESPNoCRLF         = &RESPError{ErrMalformed, "expected CRLF"}
	errRESPType           = &RESPError{ErrMalformed, "unknown type byte"}
	errRESPInteger        = &RESPError{ErrMalformed, "invalid integer"}
	errRESPBoolean        = &RESPError{ErrMalformed, "invalid boolean"}
	errRESPNull           = &RESPError{ErrMalformed, "invalid null"}
	errRESPTruncated      = &RESPError{ErrMalformed, "incomplete frame"}
	errRESPQuotes         = &RESPError{ErrMalformed, "unbalanced quotes in request"}
	errRESPNotCommand     = &RESPError{ErrMalformed, "not a command: expected an array of bulk strings or an inline command"}
	// errRESPExpectedBulk[x] is "expected '$', got 'x'".
	errRESPExpectedBulk = func() (errs [256]*RESPError) {
		for i := range errs {
			errs[i] = &RESPError{ErrMalformed, "expected '$', got '" + string([]byte{byte(i)}) + "'"}
		}
		// Redis formats the byte with %c into a C string: a NUL ends it.
		errs[0].Reason = "expected '$', got '"
		return errs
	}()
)

// isRESPType reports whether b starts a RESP value. Any other first byte
// starts an inline command.
func isRESPType(b byte) bool {
	switch b {
	case '+', '-', ':', '$', '*', // RESP2
		'_', ',', '#', '!', '=', '(', '%', '~', '|', '>': // RESP3
		return true
	}
	return false
}

// Decode returns the first whole RESP value of buf, or its first inline
// command line (with its "\n" or "\r\n"), as frame == buf[:n]. It returns
// n == 0 and a nil error while the value is incomplete. It fails with
// ErrFrameTooLarge (wrapped in a *RESPError) as soon as a declared length
// or count passes a limit, before the bytes arrive, and with ErrMalformed
// for bytes that cannot become RESP. It does not allocate.
func (r *RESP) Decode(buf []byte) ([]byte, int, error) {
	if len(buf) == 0 {
		return nil, 0, nil
	}
	if !isRESPType(buf[0]) {
		return r.inline(buf)
	}
	end, err := r.value(buf, 0, 0)
	if err != nil || end == 0 {
		return nil, 0, err
	}
	return buf[:end:end], end, nil
}

// inline frames an inline command: a line of at most maxInline bytes
// ("\r" included, "\n" excluded).
func (r *RESP) inline(buf []byte) ([]byte, int, error) {
	i := bytes.IndexByte(buf[:min(len(buf), r.maxInline+1)], '\n')
	if i < 0 {
		if len(buf) > r.maxInline {
			return nil, 0, errRESPInlineTooLarge
		}
		return nil, 0, nil
	}
	return buf[: i+1 : i+1], i + 1, nil
}

// The positions value and its helpers return are offsets into buf just
// past what they parsed. A complete value ends at an offset > 0, so 0
// means "incomplete: need more input".

// value parses the value that starts at buf[p]; depth is the number of
// aggregates around it.
func (r *RESP) value(buf []byte, p, depth int) (int, error) {
	if p >= len(buf) {
		return 0, nil
	}
	switch t := buf[p]; t {
	case '$', '!', '=':
		return r.bulk(buf, p)
	case '*', '~', '>', '%', '|':
		if depth >= r.maxDepth {
			return 0, errRESPTooDeep
		}
		max := r.maxArray
		if t == '%' || t == '|' {
			max /= 2 // pairs
		}
		n, q := respShortLength(buf, p+1)
		var err error
		if q == 0 || n > max {
			n, q, err = respLength(buf, p+1, max, t == '*', errRESPArrayTooLarge, errRESPArrayLength)
			if err != nil || q == 0 || n < 0 {
				return q, err
			}
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		for ; n > 0; n-- {
			if q < len(buf) && buf[q] == '$' {
				q, err = r.bulk(buf, q) // the common case, without the call through value
			} else {
				q, err = r.value(buf, q, depth+1)
			}
			if err != nil || q == 0 {
				return 0, err
			}
		}
		if t == '|' {
			// An attribute annotates the value that follows it; both are
			// one frame. Counting the value one level deeper bounds a
			// chain of attributes by MaxDepth.
			return r.value(buf, q, depth+1)
		}
		return q, nil
	case '+', '-', ',':
		return r.line(buf, p+1)
	case ':', '(':
		return r.integer(buf, p+1, t == '(')
	case '#':
		return respExact(buf, p+1, errRESPBoolean, "t\r\n", "f\r\n")
	case '_':
		return respExact(buf, p+1, errRESPNull, "\r\n", "")
	}
	return 0, errRESPType
}

// bulk parses a bulk string, blob error or verbatim string: its length
// line, the bytes, CRLF. "$-1" is the RESP2 null bulk string.
func (r *RESP) bulk(buf []byte, p int) (int, error) {
	n, q := respShortLength(buf, p+1)
	if q == 0 || n > r.maxBulk {
		var err error
		n, q, err = respLength(buf, p+1, r.maxBulk, buf[p] == '$', errRESPBulkTooLarge, errRESPBulkLength)
		if err != nil || q == 0 || n < 0 {
			return q, err
		}
	}
	if len(buf)-q-2 < n {
		return 0, nil
	}
	if buf[q+n] != '\r' || buf[q+n+1] != '\n' {
		return 0, errRESPNoCRLF
	}
	return q + n + 2, nil
}

// respShortLength is the fast path of respLength, for the lengths nearly
// every request carries: one or two digits, the first not 0, then CRLF, at
// buf[p:], with at least 4 bytes from p on. It returns end == 0 for
// anything else, which respLength then parses (or rejects). The caller
// checks the limit. It is small enough to be inlined.
func respShortLength(buf []byte, p int) (n, end int) {
	if p+4 > len(buf) {
		return 0, 0
	}
	x := binary.LittleEndian.Uint32(buf[p:]) // the digits and CRLF, read at once
	d0, d1 := x&0xff-'0', x>>8&0xff-'0'
	switch {
	case d0-1 > 8: // not 1-9
	case x&0xffff00 == '\n'<<16|'\r'<<8:
		return int(d0), p + 3
	case d1 <= 9 && x>>16 == '\n'<<8|'\r':
		return int(d0*10 + d1), p + 4
	}
	return 0, 0
}

// respLength parses the decimal length line of a bulk string or an aggregate
// at buf[p:]: digits without leading zeros, then CRLF; "-1" is accepted
// (and returned as -1) if null is true. A length above max fails with
// tooLarge as soon as its digits show it; any other bad byte with bad.
func respLength(buf []byte, p, max int, null bool, tooLarge, bad error) (n, end int, err error) {
	if p >= len(buf) {
		return 0, 0, nil
	}
	if buf[p] == '-' {
		if !null {
			return 0, 0, bad
		}
		end, err := respExact(buf, p, bad, "-1\r\n", "")
		return -1, end, err
	}
	start := p
	for ; p < len(buf); p++ {
		c := buf[p]
		if c < '0' || c > '9' {
			break
		}
		if p > start && buf[start] == '0' {
			return 0, 0, bad // a leading zero
		}
		d := int(c - '0')
		if d > max || n > (max-d)/10 {
			return 0, 0, tooLarge
		}
		n = n*10 + d
	}
	switch {
	case p == len(buf):
		return 0, 0, nil
	case p == start || buf[p] != '\r':
		return 0, 0, bad
	case p+1 == len(buf):
		return 0, 0, nil
	case buf[p+1] != '\n':
		return 0, 0, bad
	}
	return n, p + 2, nil
}

// line parses the rest of a simple string, error or double: bytes up to
// CRLF, at most maxInline of them.
func (r *RESP) line(buf []byte, p int) (int, error) {
	rest := buf[p:]
	i := bytes.IndexByte(rest[:min(len(rest), r.maxInline+1)], '\n')
	switch {
	case i < 0 && len(rest) > r.maxInline:
		return 0, errRESPLineTooLarge
	case i < 0:
		return 0, nil
	case i == 0 || rest[i-1] != '\r':
		return 0, errRESPNoCRLF
	}
	return p + i + 1, nil
}

// integer parses the rest of an integer (a signed 64-bit decimal) or, if
// big, of a big number (any count of digits up to maxInline), then CRLF.
func (r *RESP) integer(buf []byte, p int, big bool) (int, error) {
	start := p
	if p < len(buf) && (buf[p] == '-' || buf[p] == '+') {
		p++
	}
	digits := p
	var v uint64
	for ; p < len(buf) && buf[p] >= '0' && buf[p] <= '9'; p++ {
		if big {
			if p-start > r.maxInline {
				return 0, errRESPLineTooLarge
			}
			continue
		}
		d := uint64(buf[p] - '0')
		if v > (1<<63-d)/10 { // past -(2^63); 2^63 itself is checked below
			return 0, errRESPInteger
		}
		v = v*10 + d
	}
	switch {
	case p == len(buf):
		return 0, nil
	case p == digits || buf[p] != '\r':
		return 0, errRESPInteger
	case !big && v == 1<<63 && buf[start] != '-':
		return 0, errRESPInteger
	case p+1 == len(buf):
		return 0, nil
	case buf[p+1] != '\n':
		return 0, errRESPNoCRLF
	}
	return p + 2, nil
}

// respExact parses one of two expected byte strings at buf[p:] (b may be
// empty: only a).
func respExact(buf []byte, p int, bad error, a, b string) (int, error) {
	rest := buf[p:]
	for _, want := range [2]string{a, b} {
		if want == "" {
			continue
		}
		if len(rest) >= len(want) {
			if string(rest[:len(want)]) == want {
				return p + len(want), nil
			}
			continue
		}
		if string(rest) == want[:len(rest)] {
			return 0, nil
		}
	}
	return 0, bad
}
