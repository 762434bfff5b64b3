//go:build !unix

package server

import (
	"fmt"
	"runtime"
)

func newEngine(s *Server) (engine, error) {
	if s.opts.engine == EngineLoops {
		return nil, fmt.Errorf("server: the event-loop engine is not available on %s", runtime.GOOS)
	}
	return newPortable(s), nil
}
