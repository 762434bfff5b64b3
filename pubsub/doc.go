// Package pubsub is topics on Shoal's loops: publish from anywhere,
// deliver store-once to subscribers on every loop, with presence,
// history and recovery, and brokers for one node (Memory) or many
// (package natsbroker).
//
// A Node sits between a Broker and the connections of a server. A
// connection is a Client (a WebSocket, an SSE stream: a small adapter
// of the application's), and lives on one loop; the Node keeps, per
// loop, which of that loop's clients subscribe to what, and that state
// is touched only on its loop. The data path of one publication:
//
//	Node.Publish / PublishFrom ─► Broker.Publish (stored, offset given)
//	  ─► Node.Deliver (once per node) ─► one inbox entry per loop with
//	     subscribers of the topic, and a loop.Signal
//	  ─► on each loop: for every subscriber there, Client.Deliver(p),
//	     which queues p.Frame(encoding) by reference
//
// So a publication to 10,000 subscribers costs one Publication, one
// Frame per encoding in use (made by the first subscriber that needs
// it, on whatever loop), one inbox entry per loop, and per subscriber a
// reference in its outbound queue: no copy, no lock, no wake-up per
// subscriber. TestStoreOnce measures it.
//
// Every queue is bounded: a subscriber with more than Config.MaxQueued
// bytes waiting is disconnected (ErrSlow, which a WebSocket adapter
// sends as a close code the client can read); a loop with more than
// Config.MaxPending publications waiting disconnects the subscribers of
// the topics it could not hold (ErrLost), and so does a gap in a
// topic's offsets from the broker: a client is never left with a silent
// hole, it reconnects and recovers. Broker calls run on a bounded pool
// of workers (ErrBusy past its queue), a client's publishes in flight
// are bounded, and so are its topics, a topic's subscribers, a message's
// size, and what a subscribe may replay.
//
// History: each message of a topic has an offset (1, 2, ... without
// gaps) in an epoch (the identity of that history). A subscribe may ask
// for the last N messages, or for everything after a Position it saw
// (a reconnecting client): the Node fetches it from the broker while
// holding the live publications that arrive meanwhile, then delivers
// the history and the held ones in offset order, none twice. When the
// history no longer reaches back (trimmed, expired, another epoch), the
// result says Recovered false, and the last N come instead.
//
// Presence: a subscribe may enter the client in the topic's presence;
// the others get a Join publication, and a Leave when it unsubscribes
// or its connection closes. Presence events are not stored.
package pubsub
