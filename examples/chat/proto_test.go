package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shoalnet/shoal/pubsub"
)

func TestDecodeRequest(t *testing.T) {
	for _, c := range []struct {
		in   string
		want request
	}{
		{`{"op":"join","room":"lobby"}`, request{Op: "join", Room: "lobby"}},
		{`{"op":"join","room":"a-b_c=","history":50,"since":{"offset":7,"epoch":"e1"}}`,
			request{Op: "join", Room: "a-b_c=", History: 50, Since: &pubsub.Position{Offset: 7, Epoch: "e1"}}},
		{`{"op":"leave","room":"lobby","extra":[1,2,{}]}`, request{Op: "leave", Room: "lobby"}},
		{`{"op":"publish","room":"lobby","text":"héllo \"✓\"\n","id":"m1"}`, request{Op: "publish", Room: "lobby", Text: "héllo \"✓\"\n", ID: "m1"}},
		{`{"op":"publish","room":"r","text":"\ud800"}`, request{Op: "publish", Room: "r", Text: "\ufffd"}}, // as encoding/json does
		{` {"id":"","text":"x","room":"r","op":"publish"} `, request{Op: "publish", Room: "r", Text: "x"}},
	} {
		r, err := decodeRequest([]byte(c.in))
		if err != nil || r.Op != c.want.Op || r.Room != c.want.Room || r.History != c.want.History || r.Text != c.want.Text ||
			r.ID != c.want.ID || (r.Since == nil) != (c.want.Since == nil) || (r.Since != nil && *r.Since != *c.want.Since) {
			t.Errorf("%s: %+v, %v", c.in, r, err)
		}
	}
	for _, in := range []string{
		``, `{`, `null`, `[]`, `"join"`, `{"op":1}`, `{"room":"lobby"}`, `{"op":"JOIN","room":"lobby"}`,
		`{"op":"join"}`, `{"op":"join","room":"a b"}`, `{"op":"join","room":"` + strings.Repeat("r", pubsub.MaxTopicLen+1) + `"}`,
		`{"op":"publish","room":"r"}`, `{"op":"publish","room":"r","text":"` + strings.Repeat("é", maxText/2+1) + `"}`,
		`{"op":"publish","room":"r","text":"x","id":"` + strings.Repeat("i", maxID+1) + `"}`,
		`{"op":"join","room":"r","since":{"offset":-1}}`,
	} {
		r, err := decodeRequest([]byte(in))
		if err == nil || !isBad(err) {
			t.Errorf("%s: %+v, %v: want a bad request", in, r, err)
		}
	}
}

// FuzzDecodeRequest: no input makes decodeRequest panic, what it accepts
// holds a valid room and, for a publish, a text within the limits, and
// the server's JSON of it decodes the same with encoding/json.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"op":"join","room":"lobby","history":50,"since":{"offset":7,"epoch":"e1"}}`)
	f.Add(`{"op":"publish","room":"lobby","text":"héllo","id":"m1"}`)
	f.Add(`{"op":"leave","room":"x"}`)
	f.Add(`{"op":"publish","room":"r","text":"\u00e9\ud83d\ude00"}`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := decodeRequest([]byte(in))
		if err != nil {
			return
		}
		if pubsub.ValidTopic(r.Room) != nil {
			t.Fatalf("room %q accepted", r.Room)
		}
		if r.Op == "publish" && (r.Text == "" || len(r.Text) > maxText || !utf8.ValidString(r.Text) || len(r.ID) > maxID) {
			t.Fatalf("publish %+v accepted", r)
		}
		var std request
		if json.Unmarshal([]byte(in), &std) == nil && (std.Op != r.Op || std.Room != r.Room || std.Text != r.Text) {
			t.Fatalf("jsonx %+v, encoding/json %+v", r, std)
		}
	})
}

// TestEncodePublication: the JSON of a message and of presence events.
func TestEncodePublication(t *testing.T) {
	for _, c := range []struct {
		p    *pubsub.Publication
		want string
	}{
		{&pubsub.Publication{Topic: "r", Kind: pubsub.Message, Offset: 3, Epoch: "e", Data: []byte("hi \"x\"\n"), Client: pubsub.ClientInfo{ID: "c1", User: "alice"}, Time: time.UnixMilli(1700000000123)},
			`{"op":"message","room":"r","offset":3,"epoch":"e","user":"alice","text":"hi \"x\"\n","time":1700000000123}`},
		{&pubsub.Publication{Topic: "r", Kind: pubsub.Join, Client: pubsub.ClientInfo{ID: "c1", User: "alice", Data: []byte("x")}},
			`{"op":"join","room":"r","client":{"id":"c1","user":"alice"}}`},
		{&pubsub.Publication{Topic: "r", Kind: pubsub.Leave, Client: pubsub.ClientInfo{ID: "c1", User: "alice"}},
			`{"op":"leave","room":"r","client":{"id":"c1","user":"alice"}}`},
	} {
		if got := string(encodePublication(c.p)); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
