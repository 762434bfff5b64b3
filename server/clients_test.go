//go:build unix

package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// clientsChildEnv makes the test binary a holder of many client
// connections ("addr,count"), so that the server under test and its peers
// each have a descriptor budget of their own.
const clientsChildEnv = "SHOAL_TEST_CLIENTS_CHILD"

// clientsChild dials the connections from 127.0.0.1-8, prints "ready",
// and closes each connection when the server closes it; it exits when
// all are closed.
func clientsChild() int {
	addr, count, _ := strings.Cut(os.Getenv(clientsChildEnv), ",")
	n, _ := strconv.Atoi(count)
	var wg sync.WaitGroup
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%8))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		wg.Go(func() {
			io.Copy(io.Discard, c) // until the server's FIN
			c.Close()
		})
	}
	fmt.Println("ready")
	wg.Wait()
	return 0
}

// holdClients starts a child process holding n connections to addr and
// returns once they are all connected; wait waits for the child to exit.
func holdClients(t *testing.T, addr string, n int) (wait func() error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", clientsChildEnv, addr, n))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("clients child: %q, %v", line, err)
	}
	return cmd.Wait
}
