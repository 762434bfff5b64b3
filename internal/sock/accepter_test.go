//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sock

import (
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAccepter: the peer address of an accepted connection is the one the
// client dialed from, for IPv4, IPv6 and a Unix socket bound to a path;
// the descriptor is non-blocking.
func TestAccepter(t *testing.T) {
	var a Accepter
	for _, tc := range []struct{ network, laddr, from string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.3:0"},
		{"tcp6", "[::1]:0", "[::1]:0"},
		{"unix", filepath.Join(t.TempDir(), "srv"), filepath.Join(t.TempDir(), "cli")},
	} {
		ln, err := net.Listen(tc.network, tc.laddr)
		if err != nil {
			if tc.network == "tcp6" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer ln.Close()
		lfd := blockingFD(t, ln)
		var d net.Dialer
		switch tc.network {
		case "unix":
			d.LocalAddr = &net.UnixAddr{Name: tc.from, Net: "unix"}
		default:
			d.LocalAddr, _ = net.ResolveTCPAddr(tc.network, tc.from)
		}
		c, err := d.Dial(tc.network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fd, sa, err := a.Accept(lfd)
		if err != nil {
			t.Fatalf("%s: %v", tc.network, err)
		}
		defer Close(fd)
		if got, want := Addr(sa).String(), c.LocalAddr().String(); got != want {
			t.Errorf("%s: peer %s, want %s", tc.network, got, want)
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("%s: accepted descriptor blocks (flags %#x, %v)", tc.network, fl, err)
		}
	}
}

// TestAccepterAllocs: an accept allocates the peer's address and nothing
// else where the Accepter reuses its buffer (Linux).
func TestAccepterAllocs(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lfd := blockingFD(t, ln)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 20 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	a := new(Accepter)
	allocs := testing.AllocsPerRun(19, func() {
		fd, _, err := a.Accept(lfd)
		if err != nil {
			t.Fatal(err)
		}
		Close(fd)
	})
	t.Logf("%.1f allocations per accept", allocs)
	if accepterReuses && allocs > 1 {
		t.Errorf("%.1f allocations per accept, want 1 (the peer's address)", allocs)
	}
}

// blockingFD is a blocking duplicate of ln's descriptor, closed when the
// test ends: Accept then waits for the connection the test dialed.
func blockingFD(t *testing.T, ln net.Listener) int {
	t.Helper()
	fd, err := Dup(ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Close(fd) })
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	return fd
}
