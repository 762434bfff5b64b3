package main

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// sourceIPs are the loopback addresses the client connections come from,
// in turn, so that many thousands of connections to one server port do not
// run out of ephemeral ports (each source address has its own range).
var sourceIPs = func() []net.IP {
	ips := make([]net.IP, 8)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, 0, byte(1+i))
	}
	return ips
}()

// dialParallel is how many connections are being dialed at once.
const dialParallel = 64

// dialOne dials addr from the i-th source address.
func dialOne(addr string, i int) (*net.TCPConn, error) {
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: sourceIPs[i%len(sourceIPs)]},
		Timeout:   5 * time.Second,
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// forEachConn dials n connections to addr, dialParallel at a time, and runs
// f on each one as soon as it is open (f may be nil). It returns the
// connections whose dial and f succeeded (in no particular order), the
// number of failures and the first error.
func forEachConn(addr string, n int, f func(i int, c *net.TCPConn) error) ([]*net.TCPConn, int, error) {
	var (
		mu       sync.Mutex
		conns    = make([]*net.TCPConn, 0, n)
		failed   int
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	workers := min(dialParallel, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialOne(addr, i)
				if err == nil && f != nil {
					if err = f(i, c); err != nil {
						closeNow(c)
					}
				}
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("conn %d: %w", i, err)
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, failed, firstErr
}

// closeNow closes c with a reset instead of a FIN, so that the client side
// leaves no TIME_WAIT socket holding its port.
func closeNow(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		closeNow(c)
	}
}

// dialLoad dials the n connections of a load run to addr and runs setup
// (nil: none) on each, as forEachConn does; if any of them fails, it
// closes the others and returns an error.
func dialLoad(addr string, n int, setup func(i int, c *net.TCPConn) error) ([]*net.TCPConn, error) {
	conns, failed, err := forEachConn(addr, n, setup)
	if failed > 0 {
		closeAll(conns)
		return nil, fmt.Errorf("%d of %d connections failed: %w", failed, n, err)
	}
	return conns, nil
}

// unblockAll makes every read and write on conns fail at once from now on,
// to stop the workers of a load run.
func unblockAll(conns []*net.TCPConn) {
	for _, c := range conns {
		c.SetDeadline(time.Now())
	}
}
