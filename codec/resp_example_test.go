package codec_test

import (
	"fmt"

	"github.com/shoalnet/shoal/codec"
)

// A server decodes the requests of a connection's input, pipelined or not,
// splits each into arguments and appends the replies.
func ExampleParseCommand() {
	r := codec.NewRESP(codec.RESPConfig{})
	in := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nhello\r\nGET key\r\n")
	var args [][]byte // reused: parsing does not allocate
	var out []byte
	for len(in) > 0 {
		frame, n, err := r.Decode(in)
		if err != nil || n == 0 {
			break // n == 0: wait for more input
		}
		in = in[n:]
		args, _ = codec.ParseCommand(frame, args[:0])
		fmt.Printf("%q\n", args)
		switch string(args[0]) {
		case "SET":
			out = codec.AppendSimple(out, "OK")
		case "GET":
			out = codec.AppendBulkString(out, "hello")
		}
	}
	fmt.Printf("%q\n", out)
	// Output:
	// ["SET" "key" "hello"]
	// ["GET" "key"]
	// "+OK\r\n$5\r\nhello\r\n"
}

// Decode reads replies too, RESP3 types included: a client frames what a
// server sends with the same codec.
func ExampleRESP_Decode() {
	r := codec.NewRESP(codec.RESPConfig{})
	replies := []byte("+OK\r\n*2\r\n$1\r\na\r\n_\r\n%1\r\n+proto\r\n:3\r\n")
	for len(replies) > 0 {
		frame, n, err := r.Decode(replies)
		if err != nil || n == 0 {
			break
		}
		fmt.Printf("%q\n", frame)
		replies = replies[n:]
	}
	// A declared length above the limit fails before its bytes arrive.
	_, _, err := r.Decode([]byte("$1073741824\r\n"))
	fmt.Println(err)
	// Output:
	// "+OK\r\n"
	// "*2\r\n$1\r\na\r\n_\r\n"
	// "%1\r\n+proto\r\n:3\r\n"
	// codec: frame too large: resp: invalid bulk length
}

// The Append helpers build replies without allocating once dst has room.
func ExampleAppendArrayHeader() {
	out := codec.AppendArrayHeader(nil, 3)
	out = codec.AppendBulkString(out, "a")
	out = codec.AppendNull(out)
	out = codec.AppendInt(out, 42)
	fmt.Printf("%q\n", out)
	// Output:
	// "*3\r\n$1\r\na\r\n$-1\r\n:42\r\n"
}
