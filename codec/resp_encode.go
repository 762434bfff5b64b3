package codec

import (
	"math"
	"strconv"
)

// The Append helpers encode RESP values onto dst and return the extended
// slice; they allocate only when dst must grow. Lines (simple strings,
// errors) cannot hold CR or LF: those bytes are replaced by spaces, as
// Redis does for its error replies.

// AppendSimple appends the simple string s: "+s\r\n".
func AppendSimple(dst []byte, s string) []byte {
	return appendLine(append(dst, '+'), s)
}

// AppendError appends the error msg: "-msg\r\n". By convention msg starts
// with an upper-case code: "ERR syntax error", "WRONGTYPE ...".
func AppendError(dst []byte, msg string) []byte {
	return appendLine(append(dst, '-'), msg)
}

func appendLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}

// AppendInt appends the integer n: ":n\r\n".
func AppendInt(dst []byte, n int64) []byte {
	return append(strconv.AppendInt(append(dst, ':'), n, 10), '\r', '\n')
}

// AppendBulk appends the bulk string b: "$len\r\nb\r\n". A nil b is still
// an empty string; AppendNull appends the null bulk string.
func AppendBulk(dst, b []byte) []byte {
	dst = appendHeader(dst, '$', len(b))
	return append(append(dst, b...), '\r', '\n')
}

// AppendBulkString appends the bulk string s, like AppendBulk.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendHeader(dst, '$', len(s))
	return append(append(dst, s...), '\r', '\n')
}

// AppendNull appends the RESP2 null bulk string: "$-1\r\n".
func AppendNull(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

// AppendNullArray appends the RESP2 null array: "*-1\r\n".
func AppendNullArray(dst []byte) []byte { return append(dst, "*-1\r\n"...) }

// AppendArrayHeader appends the header of an array of n elements, which
// the caller appends next: "*n\r\n".
func AppendArrayHeader(dst []byte, n int) []byte { return appendHeader(dst, '*', n) }

// AppendMapHeader appends the header of a RESP3 map of n key-value pairs,
// which the caller appends next: "%n\r\n".
func AppendMapHeader(dst []byte, n int) []byte { return appendHeader(dst, '%', n) }

// AppendSetHeader appends the header of a RESP3 set of n elements: "~n\r\n".
func AppendSetHeader(dst []byte, n int) []byte { return appendHeader(dst, '~', n) }

// AppendNull3 appends the RESP3 null: "_\r\n".
func AppendNull3(dst []byte) []byte { return append(dst, "_\r\n"...) }

// AppendBool appends a RESP3 boolean: "#t\r\n" or "#f\r\n".
func AppendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "#t\r\n"...)
	}
	return append(dst, "#f\r\n"...)
}

// AppendDouble appends a RESP3 double: ",f\r\n", with the shortest
// decimal that reads back as f, and "inf", "-inf" and "nan" as Redis
// writes them.
func AppendDouble(dst []byte, f float64) []byte {
	dst = append(dst, ',')
	switch {
	case math.IsInf(f, 1):
		dst = append(dst, "inf"...)
	case math.IsInf(f, -1):
		dst = append(dst, "-inf"...)
	case math.IsNaN(f):
		dst = append(dst, "nan"...)
	default:
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return append(dst, '\r', '\n')
}

// AppendVerbatim appends a RESP3 verbatim string of format "txt" or "mkd":
// "=len\r\ntxt:s\r\n".
func AppendVerbatim(dst []byte, format, s string) []byte {
	dst = appendHeader(dst, '=', len(format)+1+len(s))
	dst = append(append(append(dst, format...), ':'), s...)
	return append(dst, '\r', '\n')
}

func appendHeader(dst []byte, t byte, n int) []byte {
	return append(strconv.AppendInt(append(dst, t), int64(n), 10), '\r', '\n')
}
