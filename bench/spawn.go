package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// serverProc is one engine's echo server running in a child process.
type serverProc struct {
	engine string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // the exit status, valid once exited is closed
}

// startServer starts this binary with -serve engine on a free loopback port
// and waits until the port accepts connections.
func startServer(engine string, loops int) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProc(engine, addr, exe, "-serve", engine, "-addr", addr, "-loops", strconv.Itoa(loops))
}

// startProc starts the server called name, the program path with args, which
// is to listen on addr, on the server CPUs when the run is pinned, and waits
// until addr accepts connections.
func startProc(name, addr, path string, args ...string) (*serverProc, error) {
	cmd := pinned.command(path, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	// The server dies with the orchestrator, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{engine: name, addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(10 * time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// pid returns the server's process id.
func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// waitReady dials the server until it accepts a connection, it exits, or
// the timeout passes.
func (p *serverProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s server exited before accepting: %v", p.engine, p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s server did not accept on %s within %v: %v", p.engine, p.addr, timeout, err)
		}
	}
}

// stop sends SIGTERM, waits up to 5 s, then kills the process. It returns
// once the process has exited.
func (p *serverProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(5 * time.Second):
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// alive reports an error if the server has already exited.
func (p *serverProc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s server exited: %v", p.engine, p.err)
	default:
		return nil
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	if addr == "" {
		return "", errors.New("no free port")
	}
	return addr, nil
}
