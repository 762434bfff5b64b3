package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/examples/push/proto"
)

// Message is one MSG frame: a message published to a subscribed topic.
type Message struct {
	Topic   []byte
	Payload []byte
	Seq     uint64 // the topic's sequence number, from the server
	Time    int64  // when the server accepted the publish, Unix nanoseconds
}

// GoAway is the server's notice that it is shutting down: a GOAWAY frame,
// the last frame of the connection.
type GoAway struct {
	RetryAfter time.Duration // wait this long before reconnecting (and add some jitter)
	Addr       string        // where to reconnect ("host:port"); empty: the same address
}

// Client is one connection to a push server. It is safe for concurrent use.
//
// Lock order: wmu, then mu.
type Client struct {
	nc   net.Conn
	cd   *codec.LengthField
	opts options
	req  atomic.Uint32 // the last request id handed out

	wmu   sync.Mutex // serializes writes; guards body and frame
	body  []byte
	frame []byte

	mu        sync.Mutex       // guards pending, err, closing, goAway and goneAway
	pending   map[uint32]*call // requests waiting for their reply
	err       error            // why the connection ended; set once
	closing   bool
	goAway    GoAway        // the server's GOAWAY, once goneAway
	goneAway  bool          // a GOAWAY arrived: no request is sent any more
	goingAway chan struct{} // closed when goneAway is set

	msgs chan Message  // nil with WithHandler
	quit chan struct{} // closed by Close; frees a reader blocked on msgs
	done chan struct{} // closed when the reader has exited
}

// call is a request waiting for its reply; exactly one of ch and fn is set.
type call struct {
	of proto.Type
	ch chan reply // buffered, for the synchronous requests
	fn func(reply)
}

// reply is what a request gets back.
type reply struct {
	count uint32 // ACK
	token uint64 // PONG
	err   error  // *Error, or the reason the connection ended
}

// Dial connects to a push server at addr ("host:port").
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	cd, err := proto.NewCodec(o.maxBody)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok && o.dialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.dialTimeout)
		defer cancel()
	}
	d := net.Dialer{LocalAddr: o.localAddr}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return newClient(nc, cd, o), nil
}

// newClient runs the protocol over nc, which it owns from then on.
func newClient(nc net.Conn, cd *codec.LengthField, o options) *Client {
	c := &Client{
		nc:        nc,
		cd:        cd,
		opts:      o,
		pending:   make(map[uint32]*call),
		goingAway: make(chan struct{}),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if o.onMessage == nil {
		c.msgs = make(chan Message, o.msgBuf)
	}
	go c.readLoop()
	return c
}

// Messages returns the channel of incoming messages; it is closed when the
// connection ends. It is nil for a client made WithHandler.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Done returns a channel that is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// GoingAway returns a channel that is closed when the server has sent
// GOAWAY: it is shutting down. Every message and reply the server sent
// came before it (the messages are on the Messages channel ahead of its
// close, or were handed to the WithHandler callback), and nothing follows:
// requests waiting for a reply then fail with ErrGoingAway, and so do new
// ones. The server then closes the connection; the client closes its side
// when the server's FIN arrives, and Err returns ErrGoingAway. Reconnect as
// GoAway says.
func (c *Client) GoingAway() <-chan struct{} { return c.goingAway }

// GoAway returns the server's GOAWAY, and whether it has arrived.
func (c *Client) GoAway() (GoAway, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goAway, c.goneAway
}

// Err returns why the connection ended: nil while it is open, ErrClosed
// after Close, ErrGoingAway after a GOAWAY and the server's clean close,
// an *Error if the server closed it with an ERR, or the read error (io.EOF
// when the server closed it without either).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LocalAddr returns the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Close closes the connection and waits for the reading goroutine to exit.
// Requests in flight fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	first := !c.closing
	c.closing = true
	c.mu.Unlock()
	var err error
	if first {
		close(c.quit)
		err = c.nc.Close()
	}
	<-c.done
	return err
}

// Subscribe subscribes to topic and returns the topic's number of
// subscribers, this one included. Messages published after it returns
// are delivered.
func (c *Client) Subscribe(ctx context.Context, topic string) (int, error) {
	r, err := c.roundTrip(ctx, proto.Body{Type: proto.TypeSub, Topic: []byte(topic)})
	return int(r.count), err
}

// Unsubscribe unsubscribes from topic and returns the topic's remaining
// number of subscribers. A message published concurrently may still
// arrive after it returns.
func (c *Client) Unsubscribe(ctx context.Context, topic string) (int, error) {
	r, err := c.roundTrip(ctx, proto.Body{Type: proto.TypeUnsub, Topic: []byte(topic)})
	return int(r.count), err
}

// Publish publishes payload to topic and returns the number of subscribers
// the server handed the message to. The client itself receives it too if
// it is subscribed.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte) (int, error) {
	r, err := c.roundTrip(ctx, proto.Body{Type: proto.TypePub, Topic: []byte(topic), Payload: payload})
	return int(r.count), err
}

// PublishAsync publishes like Publish without waiting for the reply: done,
// if not nil, runs on the client's reading goroutine with the count or the
// error (it must not block). The payload has been written, or copied, when
// PublishAsync returns. An error returned by PublishAsync means nothing was
// sent and done will not run.
func (c *Client) PublishAsync(topic string, payload []byte, done func(n int, err error)) error {
	cl := &call{of: proto.TypePub, fn: func(r reply) {
		if done != nil {
			done(int(r.count), r.err)
		}
	}}
	b := proto.Body{Type: proto.TypePub, Req: c.nextReq(), Topic: []byte(topic), Payload: payload}
	return c.send(context.Background(), b, cl)
}

// Ping sends a PING and returns the time until its PONG.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	token := uint64(start.UnixNano())
	r, err := c.roundTrip(ctx, proto.Body{Type: proto.TypePing, Token: token})
	if err == nil && r.token != token {
		err = fmt.Errorf("client: PONG token %d, want %d", r.token, token)
	}
	return time.Since(start), err
}

// roundTrip sends a request and waits for its reply, ctx or the end of the
// connection.
func (c *Client) roundTrip(ctx context.Context, b proto.Body) (reply, error) {
	b.Req = c.nextReq()
	cl := &call{of: b.Type, ch: make(chan reply, 1)}
	if err := c.send(ctx, b, cl); err != nil {
		return reply{}, err
	}
	select {
	case r := <-cl.ch:
		return r, r.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, b.Req)
		c.mu.Unlock()
		return reply{}, ctx.Err()
	}
}

// send registers cl under b.Req and writes the request. A write error ends
// the connection: part of a frame may have gone out.
func (c *Client) send(ctx context.Context, b proto.Body, cl *call) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.body, err = proto.AppendBody(c.body[:0], &b); err != nil {
		return err
	}
	if c.frame, err = c.cd.AppendFrame(c.frame[:0], c.body); err != nil {
		return fmt.Errorf("client: %v of %d bytes: %w", b.Type, len(c.body), err)
	}
	c.mu.Lock()
	if c.err != nil || c.closing || c.goneAway {
		err := c.err
		if err == nil && c.goneAway && !c.closing {
			err = ErrGoingAway
		}
		c.mu.Unlock()
		return cmpOr(err, ErrClosed)
	}
	c.pending[b.Req] = cl
	c.mu.Unlock()

	dl, _ := ctx.Deadline()
	c.nc.SetWriteDeadline(dl)
	if _, err := c.nc.Write(c.frame); err != nil {
		c.mu.Lock()
		delete(c.pending, b.Req)
		c.mu.Unlock()
		c.nc.Close() // the reader ends the connection and records the reason
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// nextReq returns a new request id, never 0 (the id of connection-level
// errors).
func (c *Client) nextReq() uint32 {
	for {
		if id := c.req.Add(1); id != 0 {
			return id
		}
	}
}

// readLoop reads and dispatches frames until the connection fails, then
// fails the pending requests.
func (c *Client) readLoop() {
	err := c.read()
	c.mu.Lock()
	switch {
	case c.closing:
		err = ErrClosed
	case c.err != nil: // an ERR that announced the close
		err = c.err
	case c.goneAway && err == io.EOF: // the clean end of a graceful shutdown
		err = ErrGoingAway
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.nc.Close()
	for _, cl := range pending {
		cl.complete(reply{err: err})
	}
	if c.msgs != nil {
		close(c.msgs)
	}
	close(c.done)
}

// read fills the buffer from the connection and dispatches every whole
// frame in it. It returns the error that ended the connection: io.EOF for
// a FIN between two frames.
func (c *Client) read() error {
	buf := make([]byte, c.opts.readBuf)
	start, end := 0, 0 // buf[start:end] is unconsumed input
	filled := false    // the last read filled the buffer: more is probably waiting
	goneAway := false  // a GOAWAY was dispatched: it must be the last frame
	for {
		for {
			body, n, err := c.cd.Decode(buf[start:end])
			if err != nil {
				return fmt.Errorf("client: frame from the server: %w", err)
			}
			if n == 0 {
				break
			}
			start += n
			if goneAway {
				return errAfterGoAway
			}
			if goneAway, err = c.dispatch(body); err != nil {
				return err
			}
		}
		switch {
		case start == end:
			start, end = 0, 0
		case start > 0:
			end = copy(buf, buf[start:end])
			start = 0
		}
		switch {
		case end == len(buf): // a frame larger than the buffer: grow (the codec bounds it)
			buf = append(buf, make([]byte, len(buf))...)
		case filled && len(buf) < c.opts.readBufMax: // output arrives in batches: read them whole
			buf = append(buf, make([]byte, len(buf))...)
		}
		n, err := c.nc.Read(buf[end:])
		end += n
		filled = end == len(buf)
		if goneAway && n > 0 {
			return errAfterGoAway
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			if err == io.EOF && end > start {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// dispatch handles one frame body from the server and reports whether it
// was a GOAWAY.
func (c *Client) dispatch(body []byte) (bool, error) {
	b, err := proto.Decode(body)
	if err != nil {
		return false, fmt.Errorf("client: body from the server: %w", err)
	}
	switch b.Type {
	case proto.TypeMsg:
		m := Message{Topic: b.Topic, Payload: b.Payload, Seq: b.Seq, Time: b.Time}
		if c.msgs == nil {
			c.opts.onMessage(m)
			return false, nil
		}
		own := make([]byte, len(m.Topic)+len(m.Payload))
		n := copy(own, m.Topic)
		copy(own[n:], m.Payload)
		m.Topic, m.Payload = own[:n:n], own[n:]
		select {
		case c.msgs <- m:
		case <-c.quit:
			return false, ErrClosed
		}
	case proto.TypeAck:
		return false, c.resolve(b.Req, b.Of, reply{count: b.Count})
	case proto.TypePong:
		return false, c.resolve(b.Req, proto.TypePing, reply{token: b.Token})
	case proto.TypeErr:
		e := &Error{Code: b.Code, Message: string(b.Message)}
		if b.Req == 0 { // the server is closing the connection
			c.mu.Lock()
			c.err = e
			c.mu.Unlock()
			return false, nil
		}
		return false, c.resolve(b.Req, 0, reply{err: e})
	case proto.TypeGoAway:
		c.goAwayArrived(GoAway{RetryAfter: time.Duration(b.Retry) * time.Millisecond, Addr: string(b.Addr)})
		return true, nil
	default:
		return false, fmt.Errorf("client: the server sent a %v", b.Type)
	}
	return false, nil
}

// goAwayArrived records the GOAWAY and fails the requests still waiting:
// the server answered every request it read before the GOAWAY, so these
// were not applied.
func (c *Client) goAwayArrived(g GoAway) {
	c.mu.Lock()
	c.goAway, c.goneAway = g, true
	pending := c.pending
	c.pending = make(map[uint32]*call)
	c.mu.Unlock()
	close(c.goingAway)
	for _, cl := range pending {
		cl.complete(reply{err: ErrGoingAway})
	}
}

// resolve completes the request req. of is the request type the reply
// says it answers (0: any).
func (c *Client) resolve(req uint32, of proto.Type, r reply) error {
	c.mu.Lock()
	cl := c.pending[req]
	delete(c.pending, req)
	c.mu.Unlock()
	if cl == nil {
		return nil // its caller gave up (context done)
	}
	if of != 0 && of != cl.of {
		err := fmt.Errorf("client: reply to request %d is for a %v, the request was a %v", req, of, cl.of)
		cl.complete(reply{err: err})
		return err
	}
	cl.complete(r)
	return nil
}

func (cl *call) complete(r reply) {
	if cl.fn != nil {
		cl.fn(r)
		return
	}
	cl.ch <- r
}

func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
