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
	if engine == cEngine {
		return startCEcho(loops)
	}
	return startServeFlags(engine, loops)
}

// startHTTPServer starts this binary with -serve engine -proto http on a
// free loopback port.
func startHTTPServer(engine string, loops int) (*serverProc, error) {
	return startServeFlags(engine, loops, "-proto", "http")
}

// baselineEngine is shoal as built by another bench binary, named in the
// SHOAL_BENCH_BASELINE environment variable: it compares two versions of
// the engine side by side in one run, alternating like every engine
// (build the other version's bench with go build, point the variable at
// it, and add shoal-baseline to -engines).
const baselineEngine = "shoal-baseline"

// startServeFlags starts this binary with -serve engine, the flags given
// and -addr, on a free loopback port, and waits until the port accepts
// connections.
func startServeFlags(engine string, loops int, flags ...string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	name := engine
	if engine == baselineEngine {
		if exe = os.Getenv("SHOAL_BENCH_BASELINE"); exe == "" {
			return nil, errors.New(baselineEngine + " needs SHOAL_BENCH_BASELINE, the path of another bench binary")
		}
		engine = "shoal"
	}
	args := append([]string{"-serve", engine}, flags...)
	args = append(args, "-addr", addr, "-loops", strconv.Itoa(loops))
	return startProc(name, addr, exe, args...)
}

// loadFigures are the figures of one run of a load generator against a
// server process, the part that echoRun and httpRun have in common.
type loadFigures struct {
	perSec float64 // messages (requests) per second
	p50us  float64
	p99us  float64
	p999us float64
	lagus  float64 // open loop: p99 of how late the sender wrote; 0 otherwise
	cpuSec float64 // server CPU time in the measured window
	perCPU float64 // messages per server CPU-second
	rssMiB float64 // server RSS at the end of the window
	errors int64   // failed connections, mismatches
}

// window is what withServer sampled of a server process at the edges of
// the measured window: its CPU time in the window and its RSS at the end.
type window struct {
	cpuSec float64
	rss    int64 // bytes
}

// withServer starts a server process with start, runs load against it and
// stops it again; whatever the server is (this binary with -serve, or
// another program), every scenario's run goes through here. load must call
// onWindow at the start (true) and the end (false) of its measured window,
// if it has one, where withServer samples the server's CPU time and, at the
// end, its RSS. A run whose load failed, whose samples could not be read or
// whose server died is an error.
func withServer(start func() (*serverProc, error), load func(p *serverProc, onWindow func(start bool)) error) (window, error) {
	p, err := start()
	if err != nil {
		return window{}, err
	}
	track(p)
	defer func() {
		track(nil)
		p.stop()
	}()
	var cpu0, cpu1 time.Duration
	var rss int64
	var sampleErr error
	err = load(p, func(start bool) {
		var err error
		if start {
			cpu0, err = processCPU(p.pid())
		} else if cpu1, err = processCPU(p.pid()); err == nil {
			rss, err = processRSS(p.pid())
		}
		if err != nil && sampleErr == nil {
			sampleErr = err
		}
	})
	if err != nil {
		return window{}, err
	}
	if sampleErr != nil {
		return window{}, sampleErr
	}
	if err := p.alive(); err != nil {
		return window{}, err
	}
	return window{cpuSec: (cpu1 - cpu0).Seconds(), rss: rss}, nil
}

// measureLoad runs load, a load generator of loadResults, against a server
// process started with start (see withServer) and returns its figures; the
// load's first error is noted in the progress display.
func measureLoad(start func() (*serverProc, error), load func(addr string, onWindow func(start bool)) (loadResult, error)) (loadFigures, error) {
	var lr loadResult
	w, err := withServer(start, func(p *serverProc, onWindow func(bool)) (err error) {
		lr, err = load(p.addr, onWindow)
		return err
	})
	if err != nil {
		return loadFigures{}, err
	}
	if lr.firstErr != nil {
		prog.note("first error: %v", lr.firstErr)
	}
	f := loadFigures{
		perSec: float64(lr.msgs) / lr.window.Seconds(),
		p50us:  float64(lr.hist.ValueAtQuantile(50)) / 1e3,
		p99us:  float64(lr.hist.ValueAtQuantile(99)) / 1e3,
		p999us: float64(lr.hist.ValueAtQuantile(99.9)) / 1e3,
		cpuSec: w.cpuSec,
		rssMiB: float64(w.rss) / (1 << 20),
		errors: lr.errors + lr.mismatch,
	}
	if f.cpuSec > 0 {
		f.perCPU = float64(lr.msgs) / f.cpuSec
	}
	if lr.lag != nil {
		f.lagus = float64(lr.lag.ValueAtQuantile(99)) / 1e3
	}
	return f, nil
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
