package proto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// hex-like helpers keep the wire bytes in the tables readable.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func u8(v byte) []byte           { return []byte{v} }
func u16(v uint16) []byte        { return []byte{byte(v >> 8), byte(v)} }
func u32(v uint32) []byte        { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
func u64(v uint64) []byte        { return cat(u32(uint32(v>>32)), u32(uint32(v))) }
func str(s string) []byte        { return []byte(s) }

var validBodies = []struct {
	name string
	wire []byte
	body Body
}{
	{"sub", cat(u8(0x01), u32(7), u8(4), str("news")),
		Body{Type: TypeSub, Req: 7, Topic: str("news")}},
	{"unsub", cat(u8(0x02), u32(0xfffffffe), u8(1), str("a")),
		Body{Type: TypeUnsub, Req: 0xfffffffe, Topic: str("a")}},
	{"sub empty topic decodes (ValidTopic rejects it)", cat(u8(0x01), u32(1), u8(0)),
		Body{Type: TypeSub, Req: 1, Topic: str("")}},
	{"pub", cat(u8(0x03), u32(9), u8(2), str("t1"), str("hello")),
		Body{Type: TypePub, Req: 9, Topic: str("t1"), Payload: str("hello")}},
	{"pub empty payload", cat(u8(0x03), u32(9), u8(2), str("t1")),
		Body{Type: TypePub, Req: 9, Topic: str("t1"), Payload: str("")}},
	{"pub longest topic", cat(u8(0x03), u32(1), u8(255), str(strings.Repeat("x", 255)), str("p")),
		Body{Type: TypePub, Req: 1, Topic: str(strings.Repeat("x", 255)), Payload: str("p")}},
	{"ping", cat(u8(0x04), u32(3), u64(0x0102030405060708)),
		Body{Type: TypePing, Req: 3, Token: 0x0102030405060708}},
	{"pong", cat(u8(0x84), u32(3), u64(42)),
		Body{Type: TypePong, Req: 3, Token: 42}},
	{"ack", cat(u8(0x81), u32(7), u8(0x01), u32(10000)),
		Body{Type: TypeAck, Req: 7, Of: TypeSub, Count: 10000}},
	{"err", cat(u8(0x82), u32(5), u16(3), str("too many topics")),
		Body{Type: TypeErr, Req: 5, Code: CodeTooManyTopics, Message: str("too many topics")}},
	{"err without message", cat(u8(0x82), u32(0), u16(6)),
		Body{Type: TypeErr, Req: 0, Code: CodeMalformed, Message: str("")}},
	{"msg", cat(u8(0x83), u64(12), u64(1700000000123456789), u8(4), str("news"), str("hi")),
		Body{Type: TypeMsg, Seq: 12, Time: 1700000000123456789, Topic: str("news"), Payload: str("hi")}},
	{"msg negative time", cat(u8(0x83), u64(1), u64(0xffffffffffffffff), u8(1), str("t")),
		Body{Type: TypeMsg, Seq: 1, Time: -1, Topic: str("t"), Payload: str("")}},
	{"goaway", cat(u8(0x85), u32(1500), str("127.0.0.1:9200")),
		Body{Type: TypeGoAway, Retry: 1500, Addr: str("127.0.0.1:9200")}},
	{"goaway without address", cat(u8(0x85), u32(0)),
		Body{Type: TypeGoAway, Retry: 0, Addr: str("")}},
	{"goaway longest wait", cat(u8(0x85), u32(0xffffffff), str("[::1]:9100")),
		Body{Type: TypeGoAway, Retry: 0xffffffff, Addr: str("[::1]:9100")}},
}

func TestDecodeValid(t *testing.T) {
	for _, tc := range validBodies {
		got, err := Decode(tc.wire)
		if err != nil || !equalBody(got, tc.body) {
			t.Errorf("%s: Decode = %+v, %v; want %+v", tc.name, got, err, tc.body)
		}
	}
}

func TestAppendBodyValid(t *testing.T) {
	for _, tc := range validBodies {
		got, err := AppendBody([]byte("prefix"), &tc.body)
		if err != nil || !bytes.Equal(got, cat(str("prefix"), tc.wire)) {
			t.Errorf("%s: AppendBody = %x, %v; want prefix + %x", tc.name, got, err, tc.wire)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"empty", nil},
		{"unknown type", cat(u8(0x05), u32(1), u8(0))},
		{"unknown server type", cat(u8(0x86), u32(1))},
		{"goaway without retry", cat(u8(0x85))},
		{"goaway short retry", cat(u8(0x85), u16(1), u8(0))},
		{"zero type", cat(u8(0x00), u32(1))},
		{"sub without topic length", cat(u8(0x01), u32(1))},
		{"sub short req", cat(u8(0x01), u8(1))},
		{"sub topic overruns", cat(u8(0x01), u32(1), u8(5), str("news"))},
		{"sub trailing byte", cat(u8(0x01), u32(1), u8(4), str("news!"))},
		{"unsub trailing byte", cat(u8(0x02), u32(1), u8(0), str("x"))},
		{"pub topic overruns", cat(u8(0x03), u32(1), u8(255), str("short"))},
		{"pub without topic length", cat(u8(0x03), u32(1))},
		{"ping short", cat(u8(0x04), u32(1), u32(2))},
		{"ping long", cat(u8(0x04), u32(1), u64(2), u8(0))},
		{"pong short", cat(u8(0x84), u32(1))},
		{"ack short", cat(u8(0x81), u32(1), u8(1), u16(0))},
		{"ack long", cat(u8(0x81), u32(1), u8(1), u32(0), u8(0))},
		{"err short", cat(u8(0x82), u32(1), u8(1))},
		{"msg short", cat(u8(0x83), u64(1), u64(2))},
		{"msg topic overruns", cat(u8(0x83), u64(1), u64(2), u8(3), str("ab"))},
	} {
		if b, err := Decode(tc.wire); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode(%x) = %+v, %v; want ErrMalformed", tc.name, tc.wire, b, err)
		}
	}
}

func TestAppendBodyErrors(t *testing.T) {
	long := str(strings.Repeat("x", 256))
	for _, tc := range []struct {
		name string
		body Body
		want error
	}{
		{"sub topic too long", Body{Type: TypeSub, Topic: long}, ErrTopicTooLong},
		{"pub topic too long", Body{Type: TypePub, Topic: long}, ErrTopicTooLong},
		{"msg topic too long", Body{Type: TypeMsg, Topic: long}, ErrTopicTooLong},
	} {
		if _, err := AppendBody(nil, &tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: AppendBody error %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := AppendBody(nil, &Body{Type: 0x7f}); err == nil {
		t.Error("AppendBody encoded an unknown type")
	}
}

func TestValidTopic(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  bool
	}{
		{"news", true},
		{"a", true},
		{"chat.room-1/x_y:z~!", true},
		{strings.Repeat("t", 255), true},
		{"", false},
		{strings.Repeat("t", 256), false},
		{"with space", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"utf8-é", false},
	} {
		if got := ValidTopic(tc.topic); got != tc.want {
			t.Errorf("ValidTopic(%q) = %v, want %v", tc.topic, got, tc.want)
		}
		if got := ValidTopic([]byte(tc.topic)); got != tc.want {
			t.Errorf("ValidTopic([]byte(%q)) = %v, want %v", tc.topic, got, tc.want)
		}
	}
}

// TestAppendGoAway: the GOAWAY encoder takes the address as a string or
// as bytes and writes what AppendBody writes.
func TestAppendGoAway(t *testing.T) {
	want := cat(u8(0x85), u32(250), str("10.0.0.2:9100"))
	viaBody, err := AppendBody(nil, &Body{Type: TypeGoAway, Retry: 250, Addr: str("10.0.0.2:9100")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  []byte
	}{
		{"string", AppendGoAway(nil, 250, "10.0.0.2:9100")},
		{"bytes", AppendGoAway(nil, 250, str("10.0.0.2:9100"))},
		{"AppendBody", viaBody},
	} {
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%s: %x, want %x", tc.name, tc.got, want)
		}
	}
}

func TestMsgSize(t *testing.T) {
	b := AppendMsg(nil, 1, 2, str("topic"), make([]byte, 128))
	if len(b) != MsgSize(5, 128) {
		t.Fatalf("MsgSize(5, 128) = %d, encoded %d bytes", MsgSize(5, 128), len(b))
	}
	full := AppendMsg(nil, 1, 2, bytes.Repeat(str("x"), MaxTopic), nil)
	if len(full) != MaxOverhead {
		t.Fatalf("MaxOverhead = %d, a MSG with the longest topic and no payload is %d bytes", MaxOverhead, len(full))
	}
}

func TestTypeAndCodeNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{TypeSub.String(), "SUB"}, {TypeUnsub.String(), "UNSUB"}, {TypePub.String(), "PUB"},
		{TypePing.String(), "PING"}, {TypeAck.String(), "ACK"}, {TypeErr.String(), "ERR"},
		{TypeMsg.String(), "MSG"}, {TypePong.String(), "PONG"}, {TypeGoAway.String(), "GOAWAY"},
		{Type(0x42).String(), "Type(0x42)"},
		{CodeBadTopic.String(), "bad topic"}, {CodeMalformed.String(), "malformed"},
		{CodeGoingAway.String(), "going away"}, {Code(99).String(), "code 99"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// equalBody compares bodies field by field; nil and empty slices are equal.
func equalBody(a, b Body) bool {
	return a.Type == b.Type && a.Req == b.Req && a.Token == b.Token && a.Of == b.Of &&
		a.Count == b.Count && a.Code == b.Code && a.Seq == b.Seq && a.Time == b.Time && a.Retry == b.Retry &&
		bytes.Equal(a.Topic, b.Topic) && bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.Message, b.Message) &&
		bytes.Equal(a.Addr, b.Addr)
}

func TestCodecFraming(t *testing.T) {
	cd, err := NewCodec(16)
	if err != nil {
		t.Fatal(err)
	}
	body := cat(u8(0x01), u32(7), u8(4), str("news"))
	frame, err := cd.AppendFrame(nil, body)
	if err != nil || !bytes.Equal(frame, cat(u32(uint32(len(body))), body)) {
		t.Fatalf("AppendFrame = %x, %v", frame, err)
	}
	got, n, err := cd.Decode(frame)
	if err != nil || n != len(frame) || !bytes.Equal(got, body) {
		t.Fatalf("Decode = %x, %d, %v", got, n, err)
	}
	if _, _, err := cd.Decode(u32(17)); err == nil {
		t.Fatal("Decode accepted a body above the limit")
	}
	if _, err := NewCodec(0); err == nil {
		t.Fatal("NewCodec(0) succeeded")
	}
}
