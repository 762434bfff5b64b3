//go:build unix

package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const emfileChildEnv = "SHOAL_TEST_EMFILE_CHILD"

// runChild runs this test binary as the EMFILE child when asked to.
func runChild() (int, bool) {
	switch {
	case os.Getenv(emfileChildEnv) != "":
		return emfileChild(), true
	case os.Getenv(clientsChildEnv) != "":
		return clientsChild(), true
	}
	return 0, false
}

// emfileChild runs an echo server with a tiny descriptor limit, prints its
// address, serves until stdin closes and prints its stats.
func emfileChild() int {
	lim := syscall.Rlimit{Cur: 48, Max: 48}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	eng := EngineLoops
	if os.Getenv(emfileChildEnv) == "portable" {
		eng = EnginePortable
	}
	s, err := New(echoHandler{}, WithEngine(eng), WithLoops(1))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		s.Close()
	}()
	s.Serve(ln)
	st := s.Stats()
	fmt.Printf("accept-errors=%d accepted=%d\n", st.AcceptErrors, st.Accepted)
	return 0
}

func echoOnce(c net.Conn, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("e")); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

// TestAcceptEMFILE runs a server out of descriptors: it keeps serving the
// connections it has, and accepts the waiting ones once some close.
func TestAcceptEMFILE(t *testing.T) {
	forEachEngine(t, func(t *testing.T, _ Option) {
		mode := "loops"
		if strings.HasSuffix(t.Name(), "portable") {
			mode = "portable"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), emfileChildEnv+"="+mode)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		out := bufio.NewReader(stdout)
		addr, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		addr = strings.TrimSpace(addr)

		var served []net.Conn
		var waiting net.Conn
		for len(served) < 100 {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if echoOnce(c, time.Second) != nil {
				waiting = c // in the backlog: the server is out of descriptors
				break
			}
			served = append(served, c)
		}
		if waiting == nil {
			t.Fatal("never ran out of descriptors")
		}
		for i, c := range served {
			if err := echoOnce(c, 5*time.Second); err != nil {
				t.Fatalf("served connection %d stopped echoing while out of descriptors: %v", i, err)
			}
		}
		for _, c := range served[:5] {
			c.Close()
		}
		// The first byte was sent already; its echo arrives once accepted.
		waiting.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(waiting, make([]byte, 1)); err != nil {
			t.Fatalf("waiting connection not accepted after descriptors were freed: %v", err)
		}
		if err := echoOnce(waiting, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		line, _ := out.ReadString('\n')
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		var acceptErrs, accepted int
		fmt.Sscanf(line, "accept-errors=%d accepted=%d", &acceptErrs, &accepted)
		if acceptErrs == 0 || accepted != len(served)+1 {
			t.Fatalf("child stats %q: want accept errors and %d accepted", line, len(served)+1)
		}
		t.Logf("served %d connections at the limit, %s", len(served), strings.TrimSpace(line))
	})
}
