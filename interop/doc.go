// Package interop checks the examples/wsecho binary against WebSocket
// clients written by others: gorilla/websocket, coder/websocket, node's ws
// package and headless Chromium. It is a module of its own so that the
// core module depends on none of them.
package interop
