package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// idleMsgSize is the size of the one echo made on every idle connection.
const idleMsgSize = 64

// idleResult is what one run of the idle-memory scenario measured.
type idleResult struct {
	conns     int   // connections open and verified
	rssBefore int64 // server RSS before the connections, bytes
	rssAfter  int64 // server RSS with the connections open and idle, bytes
	errors    int   // connections that failed to dial or echo
	firstErr  error
}

// perConnKiB is the server memory per idle connection.
func (r idleResult) perConnKiB() float64 {
	if r.conns == 0 {
		return 0
	}
	return float64(r.rssAfter-r.rssBefore) / float64(r.conns) / 1024
}

// idleSettle is how long the connections stay idle before RSS is read.
const idleSettle = 2 * time.Second

// runIdle opens n connections to the server of p, makes one 64 B echo on
// each (checked), lets them sit idle, and reads the server's RSS before and
// after.
func runIdle(p *serverProc, n int) (idleResult, error) {
	time.Sleep(200 * time.Millisecond) // let the fresh server settle
	before, err := processRSS(p.pid())
	if err != nil {
		return idleResult{}, err
	}
	conns, failed, firstErr := forEachConn(p.addr, n, idleEcho)
	defer closeAll(conns)
	time.Sleep(idleSettle)
	if err := p.alive(); err != nil {
		return idleResult{}, err
	}
	after, err := processRSS(p.pid())
	if err != nil {
		return idleResult{}, err
	}
	return idleResult{
		conns:     len(conns),
		rssBefore: before,
		rssAfter:  after,
		errors:    failed,
		firstErr:  firstErr,
	}, nil
}

// idleEcho sends one stamped 64 B message on c and checks its echo.
func idleEcho(i int, c *net.TCPConn) error {
	msg := make([]byte, idleMsgSize)
	binary.LittleEndian.PutUint64(msg, uint64(stamp()))
	for j := stampSize; j < len(msg); j++ {
		msg[j] = byte(i*31 + j)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo mismatch")
	}
	return nil
}
