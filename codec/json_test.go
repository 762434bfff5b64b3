package codec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

type point struct {
	X    int    `json:"x"`
	Y    int    `json:"y"`
	Name string `json:"name,omitempty"`
}

func TestJSONDecode(t *testing.T) {
	ndjson := codec.NewJSON(line("", 64), 0)
	small := codec.NewJSON(line("", 64), 8)
	prefixed := codec.NewJSON(lf(lfc{Size: 2, Strip: 2}), 0)
	runDecodeCases(t, []decodeCase{
		{"object", ndjson, `{"x":1,"y":2}` + "\n" + `{"x":3}`, `{"x":1,"y":2}`, 14, nil},
		{"array", ndjson, "[1,2,3]\n", "[1,2,3]", 8, nil},
		{"string", ndjson, `"a\nb"` + "\n", `"a\nb"`, 7, nil},
		{"number", ndjson, "-1.5e3\n", "-1.5e3", 7, nil},
		{"null", ndjson, "null\n", "null", 5, nil},
		{"surrounding spaces", ndjson, " {} \n", " {} ", 5, nil},
		{"partial", ndjson, `{"x":1`, "", 0, nil},
		{"empty input", ndjson, "", "", 0, nil},
		{"crlf framing", codec.NewJSON(crlf(64), 0), "{}\r\n", "{}", 4, nil},
		{"nil framing is ndjson", codec.NewJSON(nil, 0), "true\n", "true", 5, nil},
		{"length field", prefixed, "\x00\x07{\"x\":1}", `{"x":1}`, 9, nil},
		{"length field, partial", prefixed, "\x00\x07{\"x\"", "", 0, nil},
		{"at max", small, `{"x":12}` + "\n", `{"x":12}`, 9, nil},

		{"truncated object", ndjson, `{"x":` + "\n", "", 0, codec.ErrMalformed},
		{"empty line", ndjson, "\n{}\n", "", 0, codec.ErrMalformed},
		{"blank line", ndjson, "  \n", "", 0, codec.ErrMalformed},
		{"two values", ndjson, "{}{}\n", "", 0, codec.ErrMalformed},
		{"bare word", ndjson, "hello\n", "", 0, codec.ErrMalformed},
		{"trailing comma", ndjson, "[1,]\n", "", 0, codec.ErrMalformed},
		{"raw control character in a string", ndjson, "\"a\x01b\"\n", "", 0, codec.ErrMalformed},
		{"length field, invalid", prefixed, "\x00\x02{]", "", 0, codec.ErrMalformed},
		{"above max", small, `{"x":123}` + "\n", "", 0, codec.ErrFrameTooLarge},
		{"line above the framing's max", ndjson, strings.Repeat(" ", 65), "", 0, codec.ErrFrameTooLarge},
		{"length above the framing's max", codec.NewJSON(lf(lfc{Size: 2, Strip: 2, MaxFrame: 10}), 0), "\x00\x09", "", 0, codec.ErrFrameTooLarge},
	})
}

func TestJSONAppendFrame(t *testing.T) {
	runEncodeCases(t, []encodeCase{
		{"ndjson", codec.NewJSON(line("", 64), 0), `{"x":1}`, `{"x":1}` + "\n", nil},
		{"length field", codec.NewJSON(lf(lfc{Size: 2, Strip: 2}), 0), `[1]`, "\x00\x03[1]", nil},
		{"at max", codec.NewJSON(line("", 64), 3), `[1]`, "[1]\n", nil},

		{"invalid", codec.NewJSON(line("", 64), 0), `{"x":`, "", codec.ErrMalformed},
		{"empty", codec.NewJSON(line("", 64), 0), "", "", codec.ErrMalformed},
		{"above max", codec.NewJSON(line("", 64), 3), `[12]`, "", codec.ErrMessageTooLarge},
		{"above the framing's max", codec.NewJSON(line("", 4), 0), `[123]`, "", codec.ErrMessageTooLarge},
		{"holds the framing's delimiter", codec.NewJSON(line("", 0), 0), "[1,\n2]", "", codec.ErrMalformed},
	})
}

func TestJSONAppendMessage(t *testing.T) {
	p := point{X: 1, Y: 2, Name: "a\nb"}
	cases := []struct {
		name string
		j    *codec.JSON
		v    any
		want string // appended after the prefix
		err  error
	}{
		{"ndjson", codec.NewJSON(line("", 64), 0), p, `{"x":1,"y":2,"name":"a\nb"}` + "\n", nil},
		{"crlf", codec.NewJSON(crlf(64), 0), []int{1, 2}, "[1,2]\r\n", nil},
		{"length field", codec.NewJSON(lf(lfc{Size: 2, Strip: 2}), 0), p, "\x00\x1b" + `{"x":1,"y":2,"name":"a\nb"}`, nil},
		{"length field with offset", codec.NewJSON(lf(lfc{Offset: 1, Size: 1, Strip: 2}), 0), 7, "\x00\x017", nil},
		{"fixed framing", codec.NewJSON(fixed(5), 0), "abc", `"abc"`, nil},
		{"at max", codec.NewJSON(line("", 64), 3), 123, "123\n", nil},

		{"above max", codec.NewJSON(line("", 64), 3), 1234, "", codec.ErrMessageTooLarge},
		{"above max, fixed framing", codec.NewJSON(fixed(5), 4), "abc", "", codec.ErrMessageTooLarge},
		{"above the line's max", codec.NewJSON(line("", 3), 0), 1234, "", codec.ErrMessageTooLarge},
		{"above the length field's max", codec.NewJSON(lf(lfc{Size: 1, Strip: 1, MaxFrame: 4}), 0), 1234, "", codec.ErrMessageTooLarge},
		{"holds the framing's delimiter", codec.NewJSON(line("}", 0), 0), p, "", codec.ErrMalformed},
		{"fixed framing, other size", codec.NewJSON(fixed(5), 0), "abcd", "", codec.ErrMalformed},
		{"length field that cannot encode", codec.NewJSON(lf(lfc{Size: 2}), 0), p, "", errors.ErrUnsupported},
	}
	const prefix = "prefix"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.j.AppendMessage([]byte(prefix), tc.v)
			if string(out) != prefix+tc.want || !errors.Is(err, tc.err) {
				t.Errorf("AppendMessage(%v) = %q, %v; want %q, %v", tc.v, out, err, prefix+tc.want, tc.err)
			}
		})
	}
}

func TestJSONAppendMessageUnsupportedValue(t *testing.T) {
	for _, j := range []*codec.JSON{codec.NewJSON(nil, 0), codec.NewJSON(fixed(4), 0)} {
		out, err := j.AppendMessage([]byte("prefix"), make(chan int))
		if err == nil || string(out) != "prefix" {
			t.Errorf("AppendMessage(chan) = %q, %v; want the prefix and an error", out, err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	j := codec.NewJSON(lf(lfc{Size: 4, Strip: 4}), 0)
	in := point{X: -3, Y: 4, Name: "héllo \"quoted\"\t"}
	wire, err := j.AppendMessage(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	frame, n, err := j.Decode(wire)
	if n != len(wire) || err != nil {
		t.Fatalf("Decode = %q, %d, %v", frame, n, err)
	}
	var out point
	if err := j.Unmarshal(frame, &out); err != nil || out != in {
		t.Errorf("Unmarshal = %+v, %v; want %+v", out, err, in)
	}
}

// TestJSONUnmarshalCopiesStrings checks that a decoded string does not
// refer to the frame, whose buffer the connection reuses.
func TestJSONUnmarshalCopiesStrings(t *testing.T) {
	j := codec.NewJSON(nil, 0)
	frame := []byte(`{"name":"original"}`)
	var p point
	if err := j.Unmarshal(frame, &p); err != nil {
		t.Fatal(err)
	}
	copy(frame, strings.Repeat("x", len(frame)))
	if p.Name != "original" {
		t.Errorf("Name = %q after the frame was overwritten", p.Name)
	}
}

func TestJSONUnmarshalErrors(t *testing.T) {
	j := codec.NewJSON(nil, 0)
	cases := []struct {
		name  string
		frame string
		v     any
	}{
		{"wrong type", `{"x":"one"}`, &point{}},
		{"invalid", `{"x":`, &point{}},
		{"not a pointer", `{}`, point{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := j.Unmarshal([]byte(tc.frame), tc.v); !errors.Is(err, codec.ErrMalformed) {
				t.Errorf("Unmarshal(%s) = %v; want ErrMalformed", tc.frame, err)
			}
		})
	}
}

func TestJSONName(t *testing.T) {
	if got := codec.NewJSON(nil, 0).Name(); got != "json" {
		t.Errorf("Name() = %q", got)
	}
}
