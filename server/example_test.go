package server_test

import (
	"fmt"
	"io"
	"net"

	"github.com/shoalnet/shoal/server"
)

type upper struct{}

func (upper) OnOpen(server.Conn)         {}
func (upper) OnClose(server.Conn, error) {}
func (upper) OnData(c server.Conn) {
	b, _ := c.Next(0)
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out[i] = ch
	}
	c.Write(out)
}

func Example() {
	s, err := server.New(upper{}, server.WithLoops(2))
	if err != nil {
		panic(err)
	}
	ln, err := server.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go s.Serve(ln)
	defer s.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello, shoal"))
	buf := make([]byte, 12)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: HELLO, SHOAL
}
