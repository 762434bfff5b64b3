package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/examples/push/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeClient returns a client over one end of a net.Pipe and the other end,
// the test's server. net.Pipe hands each Write to one Read, so the test
// controls exactly how the client's input is split.
func pipeClient(t *testing.T, opts ...Option) (*Client, net.Conn, *codec.LengthField) {
	t.Helper()
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	cd, err := proto.NewCodec(o.maxBody)
	if err != nil {
		t.Fatal(err)
	}
	cn, sn := net.Pipe()
	c := newClient(cn, cd, o)
	t.Cleanup(func() {
		sn.Close()
		c.Close()
	})
	return c, sn, cd
}

func frame(t testing.TB, cd codec.Encoder, b proto.Body) []byte {
	t.Helper()
	body, err := proto.AppendBody(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := cd.AppendFrame(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// serve answers the client's requests on the server end of the pipe with
// reply(request) until the pipe closes.
func serve(t *testing.T, sn net.Conn, cd *codec.LengthField, reply func(proto.Body) []proto.Body) {
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := sn.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		for {
			body, n, err := cd.Decode(buf)
			if err != nil || n == 0 {
				break
			}
			req, err := proto.Decode(body)
			buf = buf[n:]
			if err != nil {
				t.Errorf("the client sent a bad body: %v", err)
				return
			}
			for _, r := range reply(req) {
				if _, err := sn.Write(frame(t, cd, r)); err != nil {
					return
				}
			}
		}
	}
}

// TestFramesSplitAtEveryOffset feeds the client a stream of server frames
// cut in two at every offset: what it delivers must not depend on the cut.
// One message is larger than the read buffer, so the buffer grows. The
// stream ends with a GOAWAY and the server's close.
func TestFramesSplitAtEveryOffset(t *testing.T) {
	cd, _ := proto.NewCodec(proto.MaxOverhead + 1024)
	want := []proto.Body{
		{Type: proto.TypeMsg, Seq: 1, Time: 10, Topic: []byte("a"), Payload: []byte("x")},
		{Type: proto.TypeMsg, Seq: 2, Time: 20, Topic: []byte("news"), Payload: bytes.Repeat([]byte("y"), 300)},
		{Type: proto.TypeMsg, Seq: 3, Time: 30, Topic: []byte("b"), Payload: nil},
	}
	var stream []byte
	for _, b := range want {
		stream = append(stream, frame(t, cd, b)...)
	}
	stream = append(stream, frame(t, cd, proto.Body{Type: proto.TypeGoAway, Retry: 1500, Addr: []byte("127.0.0.2:9100")})...)
	for cut := 0; cut <= len(stream); cut++ {
		var got []proto.Body
		c, sn, _ := pipeClient(t, WithReadBuffer(64, 64), WithMaxBody(proto.MaxOverhead+1024), WithHandler(func(m Message) {
			got = append(got, proto.Body{Type: proto.TypeMsg, Seq: m.Seq, Time: m.Time,
				Topic: bytes.Clone(m.Topic), Payload: bytes.Clone(m.Payload)})
		}))
		sn.Write(stream[:cut])
		sn.Write(stream[cut:])
		sn.Close()
		<-c.Done()
		if len(got) != len(want) {
			t.Fatalf("cut at %d: %d messages, want %d (err %v)", cut, len(got), len(want), c.Err())
		}
		for i := range want {
			if got[i].Seq != want[i].Seq || got[i].Time != want[i].Time ||
				!bytes.Equal(got[i].Topic, want[i].Topic) || !bytes.Equal(got[i].Payload, want[i].Payload) {
				t.Fatalf("cut at %d: message %d is %+v, want %+v", cut, i, got[i], want[i])
			}
		}
		if err := c.Err(); !errors.Is(err, ErrGoingAway) {
			t.Fatalf("cut at %d: Err() = %v, want ErrGoingAway", cut, err)
		}
		if g, ok := c.GoAway(); !ok || g != (GoAway{RetryAfter: 1500 * time.Millisecond, Addr: "127.0.0.2:9100"}) {
			t.Fatalf("cut at %d: GoAway() = %+v, %v", cut, g, ok)
		}
	}
}

func TestRequestsAndReplies(t *testing.T) {
	c, sn, cd := pipeClient(t)
	go serve(t, sn, cd, func(r proto.Body) []proto.Body {
		switch r.Type {
		case proto.TypeSub:
			return []proto.Body{{Type: proto.TypeAck, Req: r.Req, Of: r.Type, Count: 5}}
		case proto.TypeUnsub:
			return []proto.Body{{Type: proto.TypeAck, Req: r.Req, Of: r.Type, Count: 4}}
		case proto.TypePing:
			return []proto.Body{{Type: proto.TypePong, Req: r.Req, Token: r.Token}}
		}
		// A PUB: its own MSG, then an ERR.
		return []proto.Body{
			{Type: proto.TypeMsg, Seq: 9, Topic: r.Topic, Payload: r.Payload},
			{Type: proto.TypeErr, Req: r.Req, Code: proto.CodePayloadTooLarge, Message: []byte("too big")},
		}
	})
	ctx := context.Background()
	if n, err := c.Subscribe(ctx, "news"); n != 5 || err != nil {
		t.Fatalf("Subscribe: %d, %v", n, err)
	}
	if n, err := c.Unsubscribe(ctx, "news"); n != 4 || err != nil {
		t.Fatalf("Unsubscribe: %d, %v", n, err)
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	_, err := c.Publish(ctx, "news", []byte("hi"))
	var e *Error
	if !errors.As(err, &e) || e.Code != proto.CodePayloadTooLarge || e.Message != "too big" {
		t.Fatalf("Publish: %v, want the server's ERR", err)
	}
	if m := <-c.Messages(); string(m.Topic) != "news" || string(m.Payload) != "hi" || m.Seq != 9 {
		t.Fatalf("message %+v", m)
	}
	errc := make(chan error, 1)
	if err := c.PublishAsync("news", []byte("async"), func(_ int, err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.As(err, &e) {
		t.Fatalf("PublishAsync reply: %v", err)
	}
	if _, err := c.Subscribe(ctx, string(make([]byte, 256))); !errors.Is(err, proto.ErrTopicTooLong) {
		t.Fatalf("a 256-byte topic: %v", err)
	}

	// Many goroutines at once: replies find their requests.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if n, err := c.Subscribe(ctx, fmt.Sprint("t", i)); n != 5 || err != nil {
				t.Errorf("Subscribe: %d, %v", n, err)
			}
		})
	}
	wg.Wait()
}

func TestContextAndClose(t *testing.T) {
	c, sn, _ := pipeClient(t)
	go io.Copy(io.Discard, sn) // a server that never answers
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping without a reply: %v", err)
	}
	c.mu.Lock()
	left := len(c.pending)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d requests still pending after their context ended", left)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(context.Background(), "news")
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("a request in flight at Close: %v", err)
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Err() = %v", err)
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("Messages is open after Close")
	}
	c.Close() // idempotent
}

// TestCloseFreesBlockedReader: a reader blocked on a full Messages channel
// still stops on Close.
func TestCloseFreesBlockedReader(t *testing.T) {
	c, sn, cd := pipeClient(t, WithMessageBuffer(0))
	msg := frame(t, cd, proto.Body{Type: proto.TypeMsg, Seq: 1, Topic: []byte("t")})
	go func() {
		sn.Write(msg)
		sn.Write(msg)
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close() // must not hang
}

func TestServerCloseReasons(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reply    proto.Body
		answerID bool // the reply carries the request's id
		check    func(error) bool
	}{
		{"ERR with request id 0", proto.Body{Type: proto.TypeErr, Code: proto.CodeMalformed, Message: []byte("bad")}, false,
			func(err error) bool { var e *Error; return errors.As(err, &e) && e.Code == proto.CodeMalformed }},
		{"reply of the wrong type", proto.Body{Type: proto.TypeAck, Of: proto.TypePub}, true,
			func(err error) bool { return err != nil }},
		{"a request from the server", proto.Body{Type: proto.TypePing}, false,
			func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sn, cd := pipeClient(t)
			go answerOnce(t, sn, cd, func(req proto.Body) []proto.Body {
				r := tc.reply
				if tc.answerID {
					r.Req = req.Req
				}
				return []proto.Body{r}
			})
			_, err := c.Subscribe(context.Background(), "news")
			<-c.Done()
			if !tc.check(err) || !tc.check(c.Err()) {
				t.Fatalf("Subscribe: %v; Err(): %v", err, c.Err())
			}
		})
	}
	// Garbage from the server ends the connection with the codec's error.
	c, sn, _ := pipeClient(t, WithMaxBody(proto.MaxOverhead))
	go sn.Write([]byte{0xff, 0xff, 0xff, 0xff})
	<-c.Done()
	if err := c.Err(); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("Err() = %v, want ErrFrameTooLarge", err)
	}
}

// answerOnce reads one request, writes reply(request) and closes.
func answerOnce(t *testing.T, sn net.Conn, cd *codec.LengthField, reply func(proto.Body) []proto.Body) {
	defer sn.Close()
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		n, err := sn.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		body, n, err := cd.Decode(buf)
		if err != nil {
			return
		}
		if n == 0 {
			continue
		}
		req, _ := proto.Decode(body)
		for _, r := range reply(req) {
			sn.Write(frame(t, cd, r))
		}
		return
	}
}

// TestGoAway: a GOAWAY comes after the messages and replies before it,
// fails the request the server did not answer and the ones made after it,
// and the server's close then ends the connection with ErrGoingAway.
func TestGoAway(t *testing.T) {
	c, sn, cd := pipeClient(t)
	go answerOnce(t, sn, cd, func(req proto.Body) []proto.Body {
		return []proto.Body{
			{Type: proto.TypeMsg, Seq: 1, Topic: []byte("news"), Payload: []byte("last")},
			{Type: proto.TypeGoAway}, // the PING is not answered
		}
	})
	if _, err := c.Ping(context.Background()); !errors.Is(err, ErrGoingAway) {
		t.Fatalf("a request unanswered at the GOAWAY: %v, want ErrGoingAway", err)
	}
	select {
	case <-c.GoingAway():
	default:
		t.Fatal("GoingAway is not closed after the GOAWAY")
	}
	if len(c.Messages()) != 1 {
		t.Fatalf("%d messages ahead of the GOAWAY, want 1", len(c.Messages()))
	}
	if g, ok := c.GoAway(); !ok || g != (GoAway{}) {
		t.Fatalf("GoAway() = %+v, %v; want the zero hint", g, ok)
	}
	if _, err := c.Publish(context.Background(), "news", nil); !errors.Is(err, ErrGoingAway) {
		t.Fatalf("a request after the GOAWAY: %v, want ErrGoingAway", err)
	}
	if err := c.PublishAsync("news", nil, nil); !errors.Is(err, ErrGoingAway) {
		t.Fatalf("PublishAsync after the GOAWAY: %v, want ErrGoingAway", err)
	}
	<-c.Done() // answerOnce closed its end: the server's FIN
	if err := c.Err(); !errors.Is(err, ErrGoingAway) {
		t.Fatalf("Err() = %v, want ErrGoingAway", err)
	}
	if m, ok := <-c.Messages(); !ok || string(m.Payload) != "last" {
		t.Fatalf("message %+v, %v", m, ok)
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("Messages is open after the close")
	}
}

// TestDataAfterGoAway: the server must send nothing after its GOAWAY,
// whether it comes in the read of the GOAWAY or in a later one.
func TestDataAfterGoAway(t *testing.T) {
	cd, _ := proto.NewCodec(proto.MaxOverhead + proto.DefaultMaxPayload)
	goAway := frame(t, cd, proto.Body{Type: proto.TypeGoAway, Retry: 10})
	msg := frame(t, cd, proto.Body{Type: proto.TypeMsg, Topic: []byte("t")})
	for _, tc := range []struct {
		name   string
		writes [][]byte
	}{
		{"a frame in the same read", [][]byte{append(bytes.Clone(goAway), msg...)}},
		{"a frame in a later read", [][]byte{goAway, msg}},
		{"one byte in a later read", [][]byte{goAway, {0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sn, _ := pipeClient(t)
			go func() {
				defer sn.Close()
				for _, w := range tc.writes {
					sn.Write(w)
				}
			}()
			<-c.Done()
			if err := c.Err(); !errors.Is(err, errAfterGoAway) {
				t.Fatalf("Err() = %v, want errAfterGoAway", err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, opt := range []Option{WithReadBuffer(8, 64), WithReadBuffer(128, 64), WithMaxBody(10), WithMessageBuffer(-1)} {
		if _, err := Dial(context.Background(), "127.0.0.1:1", opt); err == nil || errors.Is(err, net.ErrClosed) {
			t.Errorf("Dial with a bad option: %v", err)
		}
	}
}
