// Package client is a Go client of the push protocol (package proto): it
// subscribes, unsubscribes, publishes and pings over one TCP connection and
// delivers the MSG frames of its subscriptions to a channel or a callback.
//
// A Client is safe for concurrent use. Each request waits for its own
// reply (ACK, ERR or PONG), matched by request id, so requests from many
// goroutines may be in flight at once. One goroutine per Client reads the
// connection; Close stops it.
//
//	c, err := client.Dial(ctx, "127.0.0.1:9100")
//	if err != nil { ... }
//	defer c.Close()
//	if _, err := c.Subscribe(ctx, "news"); err != nil { ... }
//	n, err := c.Publish(ctx, "news", []byte("hello")) // n: subscribers handed the message
//	m := <-c.Messages()                               // Topic "news", Payload "hello"
//
// When the server shuts down gracefully it ends the connection with a
// GOAWAY, after every message and reply it owes the client: GoingAway is
// closed, requests not answered by then fail with ErrGoingAway (the server
// did not apply them), the server's FIN follows and the client closes its
// side cleanly. Reconnect as the GOAWAY says:
//
//	<-c.GoingAway()
//	g, _ := c.GoAway() // g.RetryAfter, g.Addr ("": the same address)
package client
