// Package ws is WebSocket (RFC 6455) on Shoal's loops.
//
// An Upgrader answers the upgrade requests of an http1.Server and serves
// the connections with a Handler, whose callbacks run on each
// connection's loop:
//
//	up := ws.NewUpgrader(handler, ws.Config{Compression: true})
//	srv, err := server.New(http1.NewServer(up, http1.Config{}))
//
// The wire: frames are parsed from any split of the input (FrameReader)
// and every rule is checked as bytes arrive: masking, reserved bits and
// opcodes, control frames, fragments, UTF-8 of text failed at the first
// bad byte, close codes and reasons, frame and message limits. Every
// violation is a *CloseError carrying the close code the peer is sent:
// 1002 for protocol errors, 1007 for bad UTF-8 (or bad compressed data),
// 1009 for frames or messages over their limit.
//
// A Conn pings at Config.PingInterval and closes a peer that stops
// answering, driven by one timer per loop (heartbeat.go), not one per
// connection; permessage-deflate (RFC 7692) is negotiated without
// context takeover; a PreparedMessage is
// framed and compressed once and queued by reference on any number of
// connections (WritePrepared); Execute and Send reach a connection from
// other goroutines. A draining server says 1001 (going away).
//
// Dial and Client are a small blocking client for tests and tools.
package ws
