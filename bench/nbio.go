package main

import (
	"log"
	"net/http"
	"os"
	"sync"

	llibtls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// nbio: lesismal/nbio, -loops pollers. The echo server is nbio's raw
// engine with `c.Write(data)` in OnData, which runs on the poller
// goroutine; the HTTP server is its nbhttp package with an http.Handler,
// run as shipped (handlers on its goroutine pool, answers kept in order).

// nbioEngine is what nbio's raw engine and nbhttp's have in common.
type nbioEngine interface {
	Start() error
	Stop()
}

// nbioServer runs the engine that build returns until Stop.
type nbioServer struct {
	build func(addr string, loops int) nbioEngine
	mu    sync.Mutex
	eng   nbioEngine    // guarded by mu; nil until started and after Stop
	done  chan struct{} // guarded by mu; closed once eng has stopped
}

func (s *nbioServer) Serve(addr string, loops int) error {
	logging.SetLevel(logging.LevelWarn) // no INFO line on every start and stop
	eng := s.build(addr, loops)
	if err := eng.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.eng, s.done = eng, done
	s.mu.Unlock()
	<-done
	return nil
}

func (s *nbioServer) Stop() {
	s.mu.Lock()
	eng, done := s.eng, s.done
	s.eng = nil
	s.mu.Unlock()
	if eng == nil {
		return
	}
	eng.Stop()
	close(done)
}

func nbioEchoEngine(addr string, loops int) nbioEngine {
	g := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}, NPoller: loops})
	g.OnData(func(c *nbio.Conn, data []byte) { c.Write(data) })
	return g
}

// nbioHTTPMaxRead bounds what nbhttp's parser holds of an unfinished
// request; it has no header limit of its own (its default is 64 MiB). 1 MiB
// is net/http's default header limit.
const nbioHTTPMaxRead = 1 << 20

func nbioHTTPEngine(addr string, loops int) nbioEngine {
	return nbhttp.NewEngine(nbhttp.Config{
		Network:   "tcp",
		Addrs:     []string{addr},
		NPoller:   loops,
		Handler:   http.HandlerFunc(helloHandler),
		ReadLimit: nbioHTTPMaxRead,
		MaxLoad:   1 << 20, // its default refuses connections beyond 10,000
	})
}

// nbioHTTPSEngine is nbhttp over TLS, as nbio ships it: its fork of
// crypto/tls (lesismal/llib/std/crypto/tls), records on its goroutine
// pool.
func nbioHTTPSEngine(addr string, loops int) nbioEngine {
	return nbhttp.NewEngine(nbhttp.Config{
		Network:   "tcp",
		AddrsTLS:  []string{addr},
		TLSConfig: nbioTLS(),
		NPoller:   loops,
		Handler:   http.HandlerFunc(helloHandler),
		ReadLimit: nbioHTTPMaxRead,
		MaxLoad:   1 << 20,
	})
}

// nbioTLS is benchTLS for nbio's fork of crypto/tls.
func nbioTLS() *llibtls.Config {
	cert, err := llibtls.LoadX509KeyPair(os.Getenv(tlsCertEnv), os.Getenv(tlsKeyEnv))
	if err != nil {
		log.Fatalf("nbio tls server: %v", err)
	}
	return &llibtls.Config{Certificates: []llibtls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
}
