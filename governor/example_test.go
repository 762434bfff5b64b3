package governor_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalnet/shoal/governor"
	"github.com/shoalnet/shoal/server"
)

type echo struct{}

func (echo) OnOpen(server.Conn) {}
func (echo) OnData(c server.Conn) {
	b, _ := c.Next(0)
	c.Write(b)
}
func (echo) OnClose(server.Conn, error) {}

// The governor next to a server, with its metrics and a global outbound
// budget sized from the same limit.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var opts []server.Option
	if limit, _, err := governor.DetectMemoryLimit(); err == nil {
		// Queued output may take at most half of the container.
		opts = append(opts, server.WithOutboundBudget(limit/2))
	}
	srv, err := server.New(echo{}, append(opts, server.WithLogger(logger))...)
	if err != nil {
		logger.Error("server", "err", err)
		return
	}
	g, err := governor.New(srv, governor.WithLogger(logger))
	if err != nil {
		logger.Error("governor", "err", err)
		return
	}
	if err := g.Start(context.Background()); err != nil {
		logger.Error("governor", "err", err)
		return
	}
	defer g.Stop()
	prometheus.NewRegistry().MustRegister(governor.NewCollector(g))
	// ... srv.ListenAndServe("tcp", ":9000")
}
