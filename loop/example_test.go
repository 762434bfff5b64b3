package loop_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/shoalnet/shoal/loop"
)

// greeter answers each line after a delay, from its loop's timing wheel,
// and counts lines per loop without a lock: each loop's counter is touched
// only by that loop's goroutine.
type greeter struct {
	loop.NopHandler
	lines []int // by loop index
}

func (g *greeter) OnData(c loop.Conn) {
	b, _ := c.Peek(0)
	i := strings.IndexByte(string(b), '\n')
	if i < 0 {
		return // wait for the rest of the line
	}
	name := strings.TrimSpace(string(b[:i]))
	c.Discard(i + 1)
	l := c.Loop()
	g.lines[l.Index()]++
	c.AfterFunc(10*time.Millisecond, func(c loop.Conn) {
		fmt.Fprintf(connWriter{c}, "hello, %s (line %d on this loop)\n", name, g.lines[l.Index()])
	})
}

// connWriter adapts Conn.Write to io.Writer.
type connWriter struct{ c loop.Conn }

func (w connWriter) Write(p []byte) (int, error) { return w.c.Write(p) }

func Example() {
	cfg := loop.DefaultConfig()
	cfg.Loops = 2
	cfg.TimerTick = time.Millisecond
	h := &greeter{lines: make([]int, cfg.Loops)}
	g, err := loop.NewGroup(h, cfg)
	if err != nil {
		panic(err)
	}
	defer g.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if err := g.Adopt(ln); err != nil {
		panic(err)
	}

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "gopher\n")
	reply, _ := bufio.NewReader(nc).ReadString('\n')
	fmt.Print(reply)
	// Output: hello, gopher (line 1 on this loop)
}
