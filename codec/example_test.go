package codec_test

import (
	"fmt"

	"github.com/shoalnet/shoal/codec"
)

// A length-prefixed protocol: a 2-byte big-endian length, then the
// message. Strip drops the header from the decoded frame.
func ExampleNewLengthField() {
	lf, err := codec.NewLengthField(codec.LengthFieldConfig{Size: 2, Strip: 2, MaxFrame: 1 << 10})
	if err != nil {
		panic(err)
	}
	wire, _ := lf.AppendFrame(nil, []byte("hello"))
	wire, _ = lf.AppendFrame(wire, []byte("world"))
	fmt.Printf("%q\n", wire)

	for len(wire) > 0 {
		frame, n, err := lf.Decode(wire)
		if err != nil || n == 0 {
			break
		}
		fmt.Printf("%s\n", frame)
		wire = wire[n:]
	}

	_, _, err = lf.Decode([]byte{0xff, 0xff}) // declares 65535 bytes
	fmt.Println(err)
	// Output:
	// "\x00\x05hello\x00\x05world"
	// hello
	// world
	// codec: frame too large
}

// Netty's "length field counts the whole frame" layout: a 1-byte tag, a
// 2-byte length that includes the 3 header bytes, then the body; the
// decoded frame keeps the tag.
func ExampleLengthFieldConfig() {
	lf, _ := codec.NewLengthField(codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: -3})
	frame, n, err := lf.Decode([]byte("T\x00\x05hi..."))
	fmt.Printf("%q %d %v\n", frame, n, err)
	// Output:
	// "T\x00\x05hi" 5 <nil>
}

func ExampleNewLine() {
	l, _ := codec.NewLine(nil, 8) // "\n", lines of at most 8 bytes
	buf := []byte("GET a\nGET b\nGET c")
	for {
		frame, n, err := l.Decode(buf)
		if err != nil || n == 0 {
			fmt.Printf("waiting for more: %q\n", buf)
			break
		}
		fmt.Printf("line %q\n", frame)
		buf = buf[n:]
	}
	_, _, err := l.Decode([]byte("much too long"))
	fmt.Println(err)
	// Output:
	// line "GET a"
	// line "GET b"
	// waiting for more: "GET c"
	// codec: frame too large
}

func ExampleNewLineCRLF() {
	l, _ := codec.NewLineCRLF(0)
	for _, in := range []string{"telnet\r\n", "netcat\n"} {
		frame, n, _ := l.Decode([]byte(in))
		fmt.Printf("%q %d\n", frame, n)
	}
	wire, _ := l.AppendFrame(nil, []byte("OK"))
	fmt.Printf("%q\n", wire)
	// Output:
	// "telnet" 8
	// "netcat" 7
	// "OK\r\n"
}

func ExampleNewFixed() {
	fx, _ := codec.NewFixed(4)
	frame, n, _ := fx.Decode([]byte("abcdef"))
	fmt.Printf("%q %d\n", frame, n)
	_, err := fx.AppendFrame(nil, []byte("abc"))
	fmt.Println(err)
	// Output:
	// "abcd" 4
	// codec: malformed frame: fixed: message is not the frame size
}

func ExampleNewJSON() {
	type Message struct {
		Topic string `json:"topic"`
		Body  string `json:"body"`
	}
	lines, _ := codec.NewLine(nil, 4<<10)
	j := codec.NewJSON(lines, 4<<10) // newline-delimited JSON

	wire, _ := j.AppendMessage(nil, Message{Topic: "news", Body: "hi"})
	fmt.Printf("%q\n", wire)

	frame, _, _ := j.Decode(wire)
	var m Message
	_ = j.Unmarshal(frame, &m)
	fmt.Printf("%+v\n", m)

	_, _, err := j.Decode([]byte("{\"topic\":\n"))
	fmt.Println(err)
	// Output:
	// "{\"topic\":\"news\",\"body\":\"hi\"}\n"
	// {Topic:news Body:hi}
	// codec: malformed frame: json: invalid JSON
}
