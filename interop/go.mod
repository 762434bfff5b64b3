module github.com/shoalnet/shoal/interop

go 1.26.8

replace github.com/shoalnet/shoal => ../

require (
	github.com/chromedp/cdproto v0.160.4
	github.com/chromedp/chromedp v0.23.1
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
)

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/shoalnet/shoal v0.0.0-00010101000000-000000000000
)
