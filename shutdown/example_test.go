package shutdown_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/shoalnet/shoal/server"
	"github.com/shoalnet/shoal/shutdown"
)

type echo struct{}

func (echo) OnOpen(server.Conn)         {}
func (echo) OnClose(server.Conn, error) {}
func (echo) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}

// A Shoal server and a net/http server in one process, drained together.
// In a real program, Run waits for SIGTERM; here Shutdown is called.
func Example() {
	srv, _ := server.New(echo{})
	ln, _ := server.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	hln, _ := net.Listen("tcp", "127.0.0.1:0")
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "hello")
	})}
	go web.Serve(hln)

	ready := true
	coord := shutdown.New(shutdown.WithTimeout(5 * time.Second))
	coord.Add(shutdown.PhaseNotReady, "readiness", func(context.Context) error { ready = false; return nil })
	coord.Add(shutdown.PhaseDrain, "shoal", srv.Shutdown)
	coord.Add(shutdown.PhaseDrain, "http", web.Shutdown)

	res := coord.Shutdown() // os.Exit(coord.Run()) in a main function
	fmt.Println("ready:", ready)
	for _, h := range res.Hooks {
		fmt.Println(h.Phase, h.Name, h.Err)
	}
	fmt.Println("exit code:", res.Code)
	// Output:
	// ready: false
	// not-ready readiness <nil>
	// drain shoal <nil>
	// drain http <nil>
	// exit code: 0
}
