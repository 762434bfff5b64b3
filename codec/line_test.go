package codec_test

import (
	"math"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

func line(delim string, maxLine int) *codec.Line { return must(codec.NewLine([]byte(delim), maxLine)) }
func crlf(maxLine int) *codec.Line               { return must(codec.NewLineCRLF(maxLine)) }

func TestNewLine(t *testing.T) {
	runConfigCases(t, []configCase{
		{"defaults", errOf(codec.NewLine(nil, 0)), false},
		{"custom", errOf(codec.NewLine([]byte("\r\n"), 10)), false},
		{"negative max", errOf(codec.NewLine(nil, -1)), true},
		{"crlf defaults", errOf(codec.NewLineCRLF(0)), false},
		{"crlf negative max", errOf(codec.NewLineCRLF(-1)), true},
	})
}

func TestLineDecode(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"line", line("", 0), "hello\nworld\n", "hello", 6, nil},
		{"empty line", line("", 0), "\nx", "", 1, nil},
		{"no delimiter yet", line("", 0), "hello", "", 0, nil},
		{"empty input", line("", 0), "", "", 0, nil},
		{"default max", line("", 0), strings.Repeat("x", 64<<10) + "\n", strings.Repeat("x", 64<<10), 64<<10 + 1, nil},
		{"default max + 1", line("", 0), strings.Repeat("x", 64<<10+1), "", 0, codec.ErrFrameTooLarge},
		{"at max", line("", 4), "abcd\n", "abcd", 5, nil},
		{"at max, waiting", line("", 4), "abcd", "", 0, nil},
		{"above max, no delimiter", line("", 4), "abcde", "", 0, codec.ErrFrameTooLarge},
		{"above max, delimiter later", line("", 4), "abcde\n", "", 0, codec.ErrFrameTooLarge},
		{"\\r kept", line("", 0), "a\r\n", "a\r", 3, nil},

		{"two-byte delimiter", line("\r\n", 0), "ab\r\ncd", "ab", 4, nil},
		{"two-byte delimiter, half of it", line("\r\n", 0), "ab\r", "", 0, nil},
		{"two-byte delimiter, lone \\n", line("\r\n", 0), "a\nb\r\n", "a\nb", 5, nil},
		{"two-byte delimiter at max", line("\r\n", 4), "abcd\r\n", "abcd", 6, nil},
		{"two-byte delimiter at max, half of it", line("\r\n", 4), "abcd\r", "", 0, nil},
		{"two-byte delimiter above max", line("\r\n", 4), "abcde", "", 0, codec.ErrFrameTooLarge},
		{"two-byte delimiter above max, not the delimiter", line("\r\n", 4), "abcd\rx", "", 0, codec.ErrFrameTooLarge},
		{"overlapping delimiter", line("aab", 0), "xaaab", "xa", 5, nil},
		{"overlapping delimiter at max", line("aab", 2), "xaaab", "xa", 5, nil},
		{"overlapping delimiter at max, partial", line("aab", 2), "xaaa", "", 0, nil},
		{"overlapping delimiter above max", line("aab", 1), "xaaab", "", 0, codec.ErrFrameTooLarge},
		{"overlapping delimiter above max, partial", line("aab", 1), "xaaa", "", 0, codec.ErrFrameTooLarge},
		{"max int", line("ab", math.MaxInt), "xyzab", "xyz", 5, nil},
		{"max int, waiting", line("ab", math.MaxInt), "xyza", "", 0, nil},
		{"crlf max int", crlf(math.MaxInt), "xyz\r\n", "xyz", 5, nil},
		{"crlf max int, waiting", crlf(math.MaxInt), "xyz\r", "", 0, nil},
		{"max 0 means default", line("|", 0), strings.Repeat("y", 100) + "|", strings.Repeat("y", 100), 101, nil},

		{"crlf", crlf(0), "hello\r\nworld", "hello", 7, nil},
		{"crlf, bare \\n", crlf(0), "hello\nworld", "hello", 6, nil},
		{"crlf, inner \\r kept", crlf(0), "a\rb\n", "a\rb", 4, nil},
		{"crlf, one \\r stripped", crlf(0), "a\r\r\n", "a\r", 4, nil},
		{"crlf, empty line", crlf(0), "\r\n", "", 2, nil},
		{"crlf, waiting", crlf(0), "hello\r", "", 0, nil},
		{"crlf at max", crlf(4), "abcd\r\n", "abcd", 6, nil},
		{"crlf at max, bare \\n", crlf(4), "abcd\n", "abcd", 5, nil},
		{"crlf at max, waiting for \\n", crlf(4), "abcd\r", "", 0, nil},
		{"crlf above max", crlf(4), "abcde", "", 0, codec.ErrFrameTooLarge},
		{"crlf above max, \\r then other", crlf(4), "abcd\rx", "", 0, codec.ErrFrameTooLarge},
		{"crlf above max, \\r\\r\\n", crlf(4), "abcd\r\r\n", "", 0, codec.ErrFrameTooLarge},
		{"crlf above max, delimiter later", crlf(4), "abcde\n", "", 0, codec.ErrFrameTooLarge},
	})
}

func TestLineAppendFrame(t *testing.T) {
	runEncodeCases(t, []encodeCase{
		{"line", line("", 0), "hello", "hello\n", nil},
		{"empty", line("", 0), "", "\n", nil},
		{"at max", line("", 4), "abcd", "abcd\n", nil},
		{"custom delimiter", line("\r\n", 0), "hello", "hello\r\n", nil},
		{"message ends in half a delimiter", line("\r\n", 0), "a\r", "a\r\r\n", nil},
		{"crlf", crlf(0), "hello", "hello\r\n", nil},
		{"crlf, message ends in \\r", crlf(0), "a\r", "a\r\r\n", nil},

		{"above max", line("", 4), "abcde", "", codec.ErrMessageTooLarge},
		{"crlf above max", crlf(4), "abcde", "", codec.ErrMessageTooLarge},
		{"holds the delimiter", line("", 0), "a\nb", "", codec.ErrMalformed},
		{"holds a custom delimiter", line("||", 0), "a||b", "", codec.ErrMalformed},
		{"would overlap the delimiter", line("aa", 0), "xa", "", codec.ErrMalformed},
		{"crlf, holds \\n", crlf(0), "a\nb", "", codec.ErrMalformed},
	})
}

func TestLineRoundTrip(t *testing.T) {
	runRoundTrips(t, []roundTripCase{
		{"line", line("", 0), "hello"},
		{"empty", line("", 0), ""},
		{"custom delimiter", line("\r\n", 0), "a\rb\n"},
		{"overlapping delimiter", line("aab", 0), "xa"},
		{"crlf", crlf(0), "hello"},
		{"crlf, message ends in \\r", crlf(0), "a\r"},
	})
}

func TestLineKeepsItsDelimiter(t *testing.T) {
	delim := []byte("||")
	l := must(codec.NewLine(delim, 0))
	delim[0] = 'x'
	frame, n, err := l.Decode([]byte("ab||"))
	if string(frame) != "ab" || n != 4 || err != nil {
		t.Errorf("Decode after the caller changed its delimiter = %q, %d, %v", frame, n, err)
	}
}

func TestLineName(t *testing.T) {
	if got := line("", 0).Name(); got != "line" {
		t.Errorf("Name() = %q", got)
	}
}
