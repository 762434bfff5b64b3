// Package interop checks the example binaries against clients written by
// others: examples/wsecho against gorilla/websocket, coder/websocket,
// node's ws package and headless Chromium, and examples/chat's page in
// headless Chromium (two pages, presence, reconnect and recovery, the SSE
// fallback). It is a module of its own so that the core module depends on
// none of them.
package interop
