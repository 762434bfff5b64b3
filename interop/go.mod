module github.com/shoalnet/shoal/interop

go 1.26.8

replace github.com/shoalnet/shoal => ../

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
)
