// Package ws is WebSocket (RFC 6455) for Shoal's loops.
//
// This part is the wire: frame headers parsed from any split of the
// input (FrameReader), masking, message rules checked frame by frame
// (fragments, control frames between them, UTF-8 of text validated as it
// arrives and failed at the first bad byte, close codes and reasons), and
// frames appended to an output buffer (AppendFrame, AppendClose). Every
// violation is a *CloseError carrying the close code the peer is to be
// sent: 1002 for protocol errors, 1007 for bad UTF-8, 1009 for frames or
// messages over their limit.
//
// The handshake helpers check an upgrade request and compute the
// Sec-WebSocket-Accept value (AcceptKey).
package ws
