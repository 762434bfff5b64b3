// Package hub keeps the topics of the push server and fans published
// messages out to their subscribers across the server's event loops.
//
// A Subscriber stands for one connection. Its connection's callbacks, which
// run one at a time on the connection's loop, subscribe and unsubscribe it
// (Hub.Subscribe, Hub.Unsubscribe), write what is pending for it
// (Hub.Flush, from OnWake and OnWritable) and remove it when the connection closes
// (Hub.Leave). Hub.Publish may run on any loop, or any goroutine.
//
// Fan-out is encode-once: Publish encodes the MSG frame (length prefix and
// body) once into a new byte slice and appends that same slice to the
// pending list of every subscriber of the topic; the slice is never
// modified afterwards, so every loop may read it at once. A subscriber
// whose list was empty gets a Conn.Wake, and its loop, in OnWake, hands
// the list to the connection with a TryWrite per frame, which copies the
// frame into the connection's outbound queue, until the connection has no
// room (its high watermark, or the server's memory budget): the rest stays
// in the list, one shared frame per message, and OnWritable flushes it
// when there is room. So 5,000 subscribers falling behind hold their
// backlog once, not 5,000 times, and the engine's copies stay within its
// budget. Wake-ups collapse: however many messages arrive before the loop
// gets to a connection, it costs one OnWake. (One AsyncWrite per subscriber per message, the
// obvious alternative, needs a task-queue slot for each and cannot batch;
// README.md has the measurement.)
//
// Pending frames are bounded per subscriber (WithMaxPending, 4 MiB by
// default). A subscriber above the bound is closed (CloseSubscriber, the
// default): a connected subscriber has then received every message of its
// topics, in order per publisher, and one that fell behind learns it from
// the close rather than from a silent gap. DropMessage drops the message
// for that subscriber instead and counts it. A connection at its high
// watermark takes no more frames, so a subscriber that falls behind is
// caught by this bound (after its connection's queue has filled); one
// that takes nothing at all is closed sooner by the server's memory
// budget, as a slow consumer, once reads have been held back for it.
//
// Graceful shutdown takes two calls. Drain, once, stops the hub accepting
// publishes (ErrDraining) after those in flight have queued their message
// for every subscriber, so that an acknowledged publish is pending for, or
// written to, each of them. Goodbye, per connection on its loop, writes
// what is pending for the subscriber and removes it from its topics,
// atomically with respect to Publish: the goodbye frame written next comes
// after every message queued for it, and nothing follows.
//
// A typical handler:
//
//	h, err := hub.New(cd) // cd: the server's codec, proto.NewCodec
//	...
//	func (p *handler) OnOpen(c server.Conn)           { c.SetContext(p.hub.NewSubscriber(c)) }
//	func (p *handler) OnWake(c server.Conn)           { p.hub.Flush(c.Context().(*hub.Subscriber), c) }
//	func (p *handler) OnWritable(c server.Conn)       { p.OnWake(c) }
//	func (p *handler) OnClose(c server.Conn, _ error) { p.hub.Leave(c.Context().(*hub.Subscriber)) }
//	func (p *handler) OnGoodbye(c server.Conn) {
//		p.hub.Drain()
//		c.PauseRead()
//		p.hub.Goodbye(c.Context().(*hub.Subscriber), c) // then write the goodbye frame
//	}
//	// in OnFrame, for a SUB:  n, err := p.hub.Subscribe(sub, string(body.Topic))
//	// and for a PUB:          n, err := p.hub.Publish(body.Topic, body.Payload)
package hub
