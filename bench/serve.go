package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// serve runs one engine's server for proto (echo, http, ws or pubsub) in
// the foreground until SIGTERM or SIGINT. It is what the orchestrator
// starts, once per run, with -serve. A pubsub server starts publishing
// publishRate messages a second when SIGUSR1 arrives.
func serve(proto, engine, addr string, loops int, publishRate float64) error {
	newServer, err := serverFor(proto, engine)
	if err != nil {
		return err
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if path := os.Getenv("SHOAL_BENCH_CPUPROFILE"); path != "" {
		stop, err := profileCPU(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv := newServer()
	if ps, ok := srv.(pubsubServer); ok {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			<-usr1
			ps.startPublishing(publishRate)
		}()
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(addr, loops) }()
	select {
	case err := <-done:
		if err == nil {
			err = fmt.Errorf("%s: server stopped by itself", engine)
		}
		return err
	case <-sigs:
	}
	go srv.Stop()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		// The process exits anyway; the kernel closes what is left.
	}
	return nil
}

// profileCPU writes a CPU profile of this server process to path (with
// the pid appended, since each run is a fresh process) until stop is
// called. It is what SHOAL_BENCH_CPUPROFILE asks for.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit, so that
// the client and the server processes can each hold many connections.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	return nil
}

// fileLimit returns the soft RLIMIT_NOFILE (0 if it cannot be read).
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
