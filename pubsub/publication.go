package pubsub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what a Publication is.
type Kind uint8

const (
	// Message is a publication of the topic's history: it has an offset.
	Message Kind = iota
	// Join: a client entered the topic's presence (Publication.Client).
	Join
	// Leave: a client left the topic's presence.
	Leave
)

func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case Join:
		return "join"
	case Leave:
		return "leave"
	}
	return "kind?"
}

// Position is a place in a topic's history: the offset of a message and
// the epoch of the history it belongs to. Offsets count the topic's
// messages from 1 and have no gaps within an epoch; a new epoch begins
// when the history was lost or restarted (a broker without the topic's
// past), and then no offset of the old epoch can be recovered.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// ClientInfo says who a client is, for presence and for the messages it
// publishes: a connection's ID (unique per connection), the user it
// authenticated as, and the application's data about it.
type ClientInfo struct {
	ID   string `json:"id"`
	User string `json:"user,omitempty"`
	Data []byte `json:"data,omitempty"`
}

// Publication is one message of a topic, or a presence event. Its fields
// are set by the broker and must not be modified afterwards: one
// Publication is delivered to every subscriber of a node, on every loop
// at once.
type Publication struct {
	Topic  string
	Kind   Kind
	Offset uint64 // Message only
	Epoch  string // Message only
	Data   []byte // Message: the payload
	Client ClientInfo
	Time   time.Time

	frames [maxEncodings]atomic.Pointer[frame] // one wire form per Encoding, made on first use
	encode sync.Mutex                          // held while a frame is made, so that it is made once
	refs   atomic.Int32                        // shards yet to deliver it; the last releases the frames
}

// Position returns the publication's place in its topic's history.
func (p *Publication) Position() Position { return Position{p.Offset, p.Epoch} }

// Frame is the wire form of a publication for one kind of client, queued
// by reference on each (a ws.PreparedMessage is one). Release is called
// once every subscriber of the node has been handed it.
type Frame interface{ Release() }

type frame struct{ f Frame }

// maxEncodings bounds a Node's encodings: a publication carries a slot for
// each.
const maxEncodings = 4

// Encoding makes the wire form of publications for one kind of client (a
// WebSocket frame of the application's JSON, an SSE event). Create them
// with Node.Encoding.
type Encoding struct {
	id     int
	encode func(*Publication) Frame
}

// Frame returns p's wire form for e, made once per publication by the
// first subscriber that needs it, whatever loop it is on: every other
// subscriber of that kind gets the same Frame. A loop that comes while
// another makes it waits for that one (an encoding, microseconds) rather
// than make a second. Subscribers call it from Client.Deliver.
func (p *Publication) Frame(e *Encoding) Frame {
	slot := &p.frames[e.id]
	if f := slot.Load(); f != nil {
		return f.f
	}
	p.encode.Lock()
	defer p.encode.Unlock()
	if f := slot.Load(); f != nil {
		return f.f
	}
	f := &frame{e.encode(p)}
	slot.Store(f)
	return f.f
}

// release drops one shard's hold; the last one releases the frames.
func (p *Publication) release() {
	if p.refs.Add(-1) != 0 {
		return
	}
	for i := range p.frames {
		if f := p.frames[i].Swap(nil); f != nil {
			f.f.Release()
		}
	}
}

// detached returns a copy of p without frames, for a delivery to one
// client (history and recovery), so that its frames are its own.
func (p *Publication) detached() *Publication {
	return &Publication{Topic: p.Topic, Kind: p.Kind, Offset: p.Offset, Epoch: p.Epoch, Data: p.Data, Client: p.Client, Time: p.Time}
}
