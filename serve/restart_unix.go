//go:build unix

package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/shoalnet/shoal/server"
)

// A zero-downtime restart on one host, on github.com/cloudflare/tableflip:
// the restart signal starts a new copy of the binary (same path,
// arguments and environment) that inherits the listening sockets, waits
// for it to say it is ready, and only then drains this process; a copy
// that fails to start, or is not ready within the timeout, is killed and
// this process goes on serving.
//
// tableflip passes one socket per address. The engine listens on several
// per address (one SO_REUSEPORT member per loop), and every one of them
// must reach the new process: a member that closes with the old process
// resets the connections waiting in it. So the engine's sockets are passed
// as tableflip files named by their address and index, and the new
// process adopts them all (server.Start with replicas).

// restarter holds the upgrader of a process started with Config.Restart.
type restarter struct {
	upg      *tableflip.Upgrader
	mu       sync.Mutex
	replicas map[net.Listener][]net.Listener // by the listener Listen returned
	names    map[net.Listener]string         // its file name prefix
}

// fileName names the i-th socket of an address among the passed files.
func fileName(prefix string, i int) string { return fmt.Sprintf("%s %d", prefix, i) }

func (c *Config) restarter() (*restarter, error) {
	if c.rs != nil {
		return c.rs, nil
	}
	upg, err := tableflip.New(tableflip.Options{UpgradeTimeout: c.RestartTimeout, PIDFile: c.PIDFile})
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	c.rs = &restarter{upg: upg, replicas: map[net.Listener][]net.Listener{}, names: map[net.Listener]string{}}
	return c.rs, nil
}

// Listen returns a listener for network and address like server.Listen.
// With Restart set it is the one the process this one replaces handed
// over, with all its sockets, or a new one; Run hands it on at the next
// restart. Only TCP listeners are handed over.
func (c *Config) Listen(network, address string) (net.Listener, error) {
	if !c.Restart {
		return server.Listen(network, address)
	}
	if !strings.HasPrefix(network, "tcp") {
		return nil, fmt.Errorf("restart: %s listeners are not handed over, only tcp", network)
	}
	rs, err := c.restarter()
	if err != nil {
		return nil, err
	}
	prefix := "shoal " + network + " " + address
	var lns []net.Listener
	for i := 0; ; i++ {
		f, err := rs.upg.File(fileName(prefix, i))
		if err != nil {
			return nil, fmt.Errorf("restart: inherit %s: %w", prefix, err)
		}
		if f == nil {
			break
		}
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("restart: inherit %s: %w", prefix, err)
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		ln, err := server.Listen(network, address)
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
	}
	rs.mu.Lock()
	rs.replicas[lns[0]] = lns[1:]
	rs.names[lns[0]] = prefix
	rs.mu.Unlock()
	return lns[0], nil
}

// listenAdmin returns the admin listener: handed over like the server's
// with Restart (tableflip's own listener passing, one socket), else new.
func (c *Config) listenAdmin() (net.Listener, error) {
	if !c.Restart {
		return net.Listen("tcp", c.Admin)
	}
	rs, err := c.restarter()
	if err != nil {
		return nil, err
	}
	return rs.upg.Listen("tcp", c.Admin)
}

// start hands ln (and what came with it) to s. With Restart it registers
// every socket of s for the next process and tells the process it
// replaces, if any, that it is ready.
func (rs *restarter) start(s *server.Server, ln net.Listener) error {
	rs.mu.Lock()
	replicas, prefix := rs.replicas[ln], rs.names[ln]
	rs.mu.Unlock()
	if prefix == "" {
		ln.Close()
		for _, r := range replicas {
			r.Close()
		}
		return errors.New("restart: the listener was not made by Config.Listen")
	}
	if err := s.Start(ln, replicas...); err != nil {
		return err
	}
	files, err := s.ListenerFiles()
	if err != nil {
		return err
	}
	for i, f := range files {
		err = errors.Join(err, rs.upg.AddFile(fileName(prefix, i), f))
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return rs.upg.Ready()
}

// stop ends restarts and closes the upgrader's copies of the sockets.
func (rs *restarter) stop() { rs.upg.Stop() }

// watch restarts on SIGUSR2 (and on reload, see Run) until stop, and
// calls exit once a new process is ready and this one must drain.
func (rs *restarter) watch(log *slog.Logger, exit func()) (restart func(), stop func()) {
	restart = func() {
		log.Info("restart: starting a new process")
		start := time.Now()
		if err := rs.upg.Upgrade(); err != nil {
			log.Error("restart failed; this process goes on serving", "err", err)
			return
		}
		log.Info("restart: the new process is ready; draining this one", "took", time.Since(start).Round(time.Millisecond))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sigs:
				go restart() // Upgrade refuses a second one while one runs
			case <-rs.upg.Exit():
				exit()
				return
			case <-quit:
				return
			}
		}
	})
	return restart, func() {
		signal.Stop(sigs)
		close(quit)
		wg.Wait()
	}
}
