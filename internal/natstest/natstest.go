//go:build !plan9 && !aix

// Package natstest starts embedded NATS servers with JetStream for tests:
// one, or a cluster whose JetStream has formed. nats-server builds neither
// on Plan 9 nor on AIX.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a cluster of n embedded NATS servers with JetStream
// (n = 1: a single server) and returns their client URLs.
func Start(t testing.TB, n int) []string {
	t.Helper()
	// A clustered JetStream server is ready only once it reaches its
	// peers, so the route ports are chosen first and all start at once.
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var servers []*server.Server
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "shoal-test", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers = append(servers, s)
	}
	var urls []string
	for i, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("NATS server %d not ready", i)
		}
		urls = append(urls, s.ClientURL())
	}
	if n > 1 {
		waitCluster(t, servers)
	}
	return urls
}

// waitCluster waits until the JetStream meta leader sees every server
// online: before that, a stream of three replicas finds no placement.
func waitCluster(t testing.TB, servers []*server.Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, s := range servers {
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(servers) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the JetStream cluster did not form")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
