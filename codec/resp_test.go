package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// respDecodeCase is one Decode call with the default limits unless cfg
// says otherwise.
type respDecodeCase struct {
	name string
	cfg  codec.RESPConfig
	in   string
	n    int   // bytes of the first frame; 0: incomplete or error
	err  error // nil, codec.ErrFrameTooLarge or codec.ErrMalformed
}

func nested(depth int, inner string) string {
	return strings.Repeat("*1\r\n", depth) + inner
}

var respDecodeCases = []respDecodeCase{
	// Requests.
	{name: "command", in: "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", n: 20},
	{name: "pipelined", in: "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", n: 14},
	{name: "empty", in: "", n: 0},
	{name: "type byte only", in: "*", n: 0},
	{name: "header without LF", in: "*2\r", n: 0},
	{name: "header only", in: "*2\r\n", n: 0},
	{name: "bulk header only", in: "*1\r\n$4\r\n", n: 0},
	{name: "bulk without CRLF", in: "*1\r\n$4\r\nPING", n: 0},
	{name: "bulk without LF", in: "*1\r\n$4\r\nPING\r", n: 0},
	{name: "empty array", in: "*0\r\n", n: 4},
	{name: "empty bulk", in: "$0\r\n\r\n", n: 6},
	{name: "inline CRLF", in: "PING\r\nPING\r\n", n: 6},
	{name: "inline LF", in: "SET a b\nGET a\n", n: 8},
	{name: "inline empty line", in: "\r\n", n: 2},
	{name: "inline incomplete", in: "PING", n: 0},
	{name: "inline at the limit", cfg: codec.RESPConfig{MaxInline: 4}, in: "PING\n", n: 5},
	{name: "inline limit with CR", cfg: codec.RESPConfig{MaxInline: 4}, in: "PIN\r\n", n: 5},
	{name: "inline just under", cfg: codec.RESPConfig{MaxInline: 4}, in: "PING", n: 0},
	{name: "inline too large", cfg: codec.RESPConfig{MaxInline: 4}, in: "PINGS", err: codec.ErrFrameTooLarge},
	{name: "inline too large CRLF", cfg: codec.RESPConfig{MaxInline: 4}, in: "PING\r\n", err: codec.ErrFrameTooLarge},

	// Replies, RESP2.
	{name: "simple", in: "+OK\r\n", n: 5},
	{name: "error", in: "-ERR unknown command 'x'\r\n", n: 26},
	{name: "integer", in: ":-12\r\n", n: 6},
	{name: "integer max", in: ":9223372036854775807\r\n", n: 22},
	{name: "integer min", in: ":-9223372036854775808\r\n", n: 23},
	{name: "integer plus", in: ":+1\r\n", n: 5},
	{name: "integer overflow", in: ":9223372036854775808\r\n", err: codec.ErrMalformed},
	{name: "integer underflow", in: ":-9223372036854775809\r\n", err: codec.ErrMalformed},
	{name: "integer empty", in: ":\r\n", err: codec.ErrMalformed},
	{name: "integer letters", in: ":12a\r\n", err: codec.ErrMalformed},
	{name: "null bulk", in: "$-1\r\n", n: 5},
	{name: "null array", in: "*-1\r\n", n: 5},
	{name: "nested", in: "*2\r\n*1\r\n:1\r\n$1\r\nx\r\n", n: 19},
	{name: "scan reply", in: "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", n: 29},

	// Replies, RESP3.
	{name: "null", in: "_\r\n", n: 3},
	{name: "null partial", in: "_\r", n: 0},
	{name: "null with data", in: "_x\r\n", err: codec.ErrMalformed},
	{name: "double", in: ",1.5e10\r\n", n: 9},
	{name: "double inf", in: ",-inf\r\n", n: 7},
	{name: "true", in: "#t\r\n", n: 4},
	{name: "false", in: "#f\r\n", n: 4},
	{name: "boolean partial", in: "#f", n: 0},
	{name: "boolean bad", in: "#x\r\n", err: codec.ErrMalformed},
	{name: "big number", in: "(-3492890328409238509324850943850943825024385\r\n", n: 47},
	{name: "blob error", in: "!5\r\nERR x\r\n", n: 11},
	{name: "verbatim", in: "=7\r\ntxt:abc\r\n", n: 13},
	{name: "map", in: "%2\r\n+a\r\n:1\r\n+b\r\n_\r\n", n: 19},
	{name: "map partial", in: "%2\r\n+a\r\n:1\r\n+b\r\n", n: 0},
	{name: "set", in: "~2\r\n:1\r\n:2\r\n", n: 12},
	{name: "push", in: ">2\r\n+message\r\n+x\r\n", n: 18},
	{name: "attribute and its value", in: "|1\r\n+ttl\r\n:3\r\n+OK\r\n", n: 19},
	{name: "attribute without its value", in: "|1\r\n+ttl\r\n:3\r\n", n: 0},

	// Limits: a declared size above them fails at once.
	{name: "array of 2^31", in: "*2147483648\r\n", err: codec.ErrFrameTooLarge},
	{name: "array of 2^31 no CRLF", in: "*2147483648", err: codec.ErrFrameTooLarge},
	{name: "bulk of 1 GiB", in: "$1073741824\r\n", err: codec.ErrFrameTooLarge},
	{name: "bulk of 1 GiB digits only", in: "$1073741824", err: codec.ErrFrameTooLarge},
	{name: "bulk of 2^70", in: "$1180591620717411303424\r\n", err: codec.ErrFrameTooLarge},
	{name: "nested bulk too large", in: "*1\r\n$99999999999\r\n", err: codec.ErrFrameTooLarge},
	{name: "bulk at the limit", cfg: codec.RESPConfig{MaxBulk: 3}, in: "$3\r\nabc\r\n", n: 9},
	{name: "bulk over the limit", cfg: codec.RESPConfig{MaxBulk: 3}, in: "$4\r\n", err: codec.ErrFrameTooLarge},
	{name: "array at the limit", cfg: codec.RESPConfig{MaxArray: 2}, in: "*2\r\n:1\r\n:2\r\n", n: 12},
	{name: "array over the limit", cfg: codec.RESPConfig{MaxArray: 2}, in: "*3\r\n", err: codec.ErrFrameTooLarge},
	{name: "map counts pairs twice", cfg: codec.RESPConfig{MaxArray: 2}, in: "%2\r\n", err: codec.ErrFrameTooLarge},
	{name: "depth at the limit", in: nested(8, ":1\r\n"), n: 36},
	{name: "depth over the limit", in: nested(9, ":1\r\n"), err: codec.ErrFrameTooLarge},
	{name: "attribute chain", in: strings.Repeat("|0\r\n", 9) + "+OK\r\n", err: codec.ErrFrameTooLarge},
	{name: "line too large", cfg: codec.RESPConfig{MaxInline: 4}, in: "+OKOKOK", err: codec.ErrFrameTooLarge},

	// Malformed.
	{name: "bulk length letters", in: "$abc\r\n", err: codec.ErrMalformed},
	{name: "bulk length empty", in: "$\r\n", err: codec.ErrMalformed},
	{name: "bulk length -2", in: "$-2\r\n", err: codec.ErrMalformed},
	{name: "bulk length leading zero", in: "$01\r\nx\r\n", err: codec.ErrMalformed},
	{name: "bulk length CR without LF", in: "$1\rx", err: codec.ErrMalformed},
	{name: "bulk data without CRLF", in: "$3\r\nfooXY", err: codec.ErrMalformed},
	{name: "array length letters", in: "*x\r\n", err: codec.ErrMalformed},
	{name: "map cannot be null", in: "%-1\r\n", err: codec.ErrMalformed},
	{name: "unknown type inside", in: "*1\r\n?\r\n", err: codec.ErrMalformed},
	{name: "simple without CR", in: "+OK\n", err: codec.ErrMalformed},
	{name: "simple line break only", in: "+\n", err: codec.ErrMalformed},
}

func TestRESPDecode(t *testing.T) {
	for _, tc := range respDecodeCases {
		t.Run(tc.name, func(t *testing.T) {
			frame, n, err := codec.NewRESP(tc.cfg).Decode([]byte(tc.in))
			if n != tc.n || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Decode(%q) = %q, %d, %v; want n %d, err %v", tc.in, frame, n, err, tc.n, tc.err)
			}
			if string(frame) != tc.in[:n] {
				t.Fatalf("frame %q, want the first %d bytes", frame, n)
			}
		})
	}
}

// TestRESPDecodeDefaults: the default limits apply to a zero config, and
// their checks do not wait for the declared bytes.
func TestRESPDecodeDefaults(t *testing.T) {
	r := codec.NewRESP(codec.RESPConfig{})
	ok := fmt.Sprintf("$%d\r\n", codec.DefaultRESPMaxBulk)
	if _, n, err := r.Decode([]byte(ok)); n != 0 || err != nil {
		t.Fatalf("bulk of MaxBulk: %d, %v; want incomplete", n, err)
	}
	big := fmt.Sprintf("$%d\r\n", codec.DefaultRESPMaxBulk+1)
	if _, _, err := r.Decode([]byte(big)); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("bulk of MaxBulk+1: %v", err)
	}
	big = fmt.Sprintf("*%d\r\n", codec.DefaultRESPMaxArray+1)
	if _, _, err := r.Decode([]byte(big)); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("array of MaxArray+1: %v", err)
	}
	if r.Name() != "resp" {
		t.Fatalf("Name %q", r.Name())
	}
	// A limit near math.MaxInt must not overflow the length arithmetic.
	huge := codec.NewRESP(codec.RESPConfig{MaxBulk: math.MaxInt})
	if _, n, err := huge.Decode([]byte("$9223372036854775807\r\nab")); n != 0 || err != nil {
		t.Fatalf("bulk of MaxInt: %d, %v; want incomplete", n, err)
	}
}

func TestRESPErrorWording(t *testing.T) {
	_, _, err := codec.NewRESP(codec.RESPConfig{}).Decode([]byte("$1073741824\r\n"))
	var re *codec.RESPError
	if !errors.As(err, &re) || re.Reason != "invalid bulk length" || re.Kind != codec.ErrFrameTooLarge {
		t.Fatalf("error %#v", err)
	}
	if got := err.Error(); got != "codec: frame too large: resp: invalid bulk length" {
		t.Fatalf("Error() = %q", got)
	}
}

type respCommandCase struct {
	name   string
	in     string
	args   []string
	reason string // RESPError.Reason; "" for success
}

var respCommandCases = []respCommandCase{
	{name: "array", in: "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\n", args: []string{"SET", "a", ""}},
	{name: "binary bulk", in: "*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\x00\xff\r\n", args: []string{"ECHO", "\r\n\x00\xff"}},
	{name: "empty array", in: "*0\r\n", args: []string{}},
	{name: "null array", in: "*-1\r\n", args: []string{}},
	{name: "inline", in: "PING\r\n", args: []string{"PING"}},
	{name: "inline LF", in: "SET a b\n", args: []string{"SET", "a", "b"}},
	{name: "inline without terminator", in: "GET a", args: []string{"GET", "a"}},
	{name: "inline blanks", in: " \t set \v  a\f b \r\n", args: []string{"set", "a\f", "b"}},
	{name: "inline tab inside", in: "a\vb\r\n", args: []string{"a\vb"}},
	{name: "inline empty", in: "\r\n", args: []string{}},
	{name: "inline blank", in: "   \n", args: []string{}},
	{name: "double quotes", in: `SET "a b" x` + "\r\n", args: []string{"SET", "a b", "x"}},
	{name: "single quotes", in: `SET 'a b' 'it\'s'` + "\n", args: []string{"SET", "a b", "it's"}},
	{name: "escapes", in: `ECHO "\x41\x7a\n\r\t\b\a\"\\\q"`, args: []string{"ECHO", "Az\n\r\t\b\a\"\\q"}},
	{name: "bad hex", in: `ECHO "\xZZ"`, args: []string{"ECHO", "xZZ"}},
	{name: "single quote keeps backslashes", in: `ECHO '\n'`, args: []string{"ECHO", `\n`}},
	{name: "quote inside an argument", in: `a"b c"`, args: []string{"ab c"}},
	{name: "empty quotes", in: `SET a ""`, args: []string{"SET", "a", ""}},
	{name: "NUL ends the line", in: "GET a\x00b c\r\n", args: []string{"GET", "a"}},
	{name: "other type byte is inline", in: "+PING\r\n", args: []string{"+PING"}},

	{name: "unterminated double", in: `SET "ab`, reason: "unbalanced quotes in request"},
	{name: "unterminated single", in: `SET 'ab`, reason: "unbalanced quotes in request"},
	{name: "closing quote then byte", in: `SET "a"b`, reason: "unbalanced quotes in request"},
	{name: "backslash at the end", in: `SET "a\`, reason: "unbalanced quotes in request"},
	{name: "simple string element", in: "*1\r\n+PING\r\n", reason: "expected '$', got '+'"},
	{name: "integer element", in: "*1\r\n:1\r\n", reason: "expected '$', got ':'"},
	{name: "null bulk element", in: "*1\r\n$-1\r\n", reason: "invalid bulk length"},
	{name: "truncated", in: "*2\r\n$3\r\nGET\r\n", reason: "incomplete frame"},
	{name: "truncated bulk", in: "*1\r\n$3\r\nGE", reason: "incomplete frame"},
	{name: "truncated header", in: "*1\r", reason: "incomplete frame"},
	{name: "huge count", in: "*99999999999\r\n", reason: "incomplete frame"},
	{name: "bad count", in: "*a\r\n", reason: "invalid multibulk length"},
	{name: "trailing bytes", in: "*1\r\n$1\r\na\r\nxyz", reason: "not a command: expected an array of bulk strings or an inline command"},
	{name: "bulk is not a command", in: "$3\r\nfoo\r\n", reason: "not a command: expected an array of bulk strings or an inline command"},
}

func TestParseCommand(t *testing.T) {
	for _, tc := range respCommandCases {
		t.Run(tc.name, func(t *testing.T) {
			args, err := codec.ParseCommand([]byte(tc.in), nil)
			var re *codec.RESPError
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("ParseCommand(%q): %v", tc.in, err)
			case tc.reason != "" && (!errors.As(err, &re) || re.Reason != tc.reason || !errors.Is(err, codec.ErrMalformed)):
				t.Fatalf("ParseCommand(%q) error %v; want reason %q", tc.in, err, tc.reason)
			case tc.reason == "" && !equalArgs(args, tc.args):
				t.Fatalf("ParseCommand(%q) = %q; want %q", tc.in, args, tc.args)
			}
		})
	}
}

func equalArgs(got [][]byte, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if string(got[i]) != want[i] {
			return false
		}
	}
	return true
}

// TestParseCommandAppends: the arguments go after what args holds, and
// they are views into the frame.
func TestParseCommandAppends(t *testing.T) {
	frame := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	args, err := codec.ParseCommand(frame, [][]byte{[]byte("first")})
	if err != nil || !equalArgs(args, []string{"first", "GET", "key"}) {
		t.Fatalf("got %q, %v", args, err)
	}
	frame[bytes.Index(frame, []byte("key"))] = 'K'
	if string(args[2]) != "Key" {
		t.Fatalf("argument %q is not a view into the frame", args[2])
	}
	if cap(args[1]) != len(args[1]) {
		t.Fatal("an argument's capacity reaches into the next bytes of the frame")
	}
}

// TestRESPDecodeThenParse runs the request path on a pipelined buffer that
// mixes both request forms.
func TestRESPDecodeThenParse(t *testing.T) {
	r := codec.NewRESP(codec.RESPConfig{})
	buf := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET k\r\n\r\nPING\n")
	var got []string
	var args [][]byte
	for len(buf) > 0 {
		frame, n, err := r.Decode(buf)
		if err != nil || n == 0 {
			t.Fatalf("Decode(%q) = %d, %v", buf, n, err)
		}
		args, err = codec.ParseCommand(frame, args[:0])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%q", args))
		buf = buf[n:]
	}
	want := []string{`["SET" "k" "hello"]`, `["GET" "k"]`, `[]`, `["PING"]`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

type respAppendCase struct {
	name string
	got  []byte
	want string
}

func TestRESPAppend(t *testing.T) {
	p := []byte("x") // a non-empty dst
	cases := []respAppendCase{
		{"simple", codec.AppendSimple(p, "OK"), "x+OK\r\n"},
		{"simple sanitized", codec.AppendSimple(p, "a\r\nb"), "x+a  b\r\n"},
		{"error", codec.AppendError(p, "ERR syntax error"), "x-ERR syntax error\r\n"},
		{"error sanitized", codec.AppendError(p, "ERR a\nb"), "x-ERR a b\r\n"},
		{"int", codec.AppendInt(p, -42), "x:-42\r\n"},
		{"int min", codec.AppendInt(p, math.MinInt64), "x:-9223372036854775808\r\n"},
		{"bulk", codec.AppendBulk(p, []byte("a\r\nb")), "x$4\r\na\r\nb\r\n"},
		{"bulk nil", codec.AppendBulk(p, nil), "x$0\r\n\r\n"},
		{"bulk string", codec.AppendBulkString(p, "hello"), "x$5\r\nhello\r\n"},
		{"null", codec.AppendNull(p), "x$-1\r\n"},
		{"null array", codec.AppendNullArray(p), "x*-1\r\n"},
		{"array header", codec.AppendInt(codec.AppendArrayHeader(p, 1), 7), "x*1\r\n:7\r\n"},
		{"map header", codec.AppendNull3(codec.AppendSimple(codec.AppendMapHeader(p, 1), "k")), "x%1\r\n+k\r\n_\r\n"},
		{"set header", codec.AppendSetHeader(p, 0), "x~0\r\n"},
		{"null3", codec.AppendNull3(p), "x_\r\n"},
		{"true", codec.AppendBool(p, true), "x#t\r\n"},
		{"false", codec.AppendBool(p, false), "x#f\r\n"},
		{"double", codec.AppendDouble(p, 1.5), "x,1.5\r\n"},
		{"double exponent", codec.AppendDouble(p, 1e300), "x,1e+300\r\n"},
		{"double inf", codec.AppendDouble(p, math.Inf(1)), "x,inf\r\n"},
		{"double -inf", codec.AppendDouble(p, math.Inf(-1)), "x,-inf\r\n"},
		{"double nan", codec.AppendDouble(p, math.NaN()), "x,nan\r\n"},
		{"verbatim", codec.AppendVerbatim(p, "txt", "hi"), "x=6\r\ntxt:hi\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
			// Every encoded value decodes as exactly one frame.
			frame, n, err := codec.NewRESP(codec.RESPConfig{}).Decode(tc.got[1:])
			if err != nil || n != len(tc.got)-1 || string(frame) != string(tc.got[1:]) {
				t.Fatalf("Decode(%q) = %q, %d, %v", tc.got[1:], frame, n, err)
			}
		})
	}
}

func TestRESPAppendFrame(t *testing.T) {
	r := codec.NewRESP(codec.RESPConfig{})
	out, err := r.AppendFrame([]byte("+OK\r\n"), []byte(":1\r\n"))
	if err != nil || string(out) != "+OK\r\n:1\r\n" {
		t.Fatalf("AppendFrame = %q, %v", out, err)
	}
}
