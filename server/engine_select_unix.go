//go:build unix

package server

func newEngine(s *Server) (engine, error) {
	if s.opts.engine == EnginePortable {
		return newPortable(s), nil
	}
	return newLoopEngine(s)
}
