package main

import (
	"encoding/binary"
	"testing"

	"github.com/shoalnet/shoal/examples/push/client"
)

func TestPushSubscriberChecksMessages(t *testing.T) {
	tmpl := []byte("filler")
	msg := func(k uint64, filler []byte) client.Message {
		p := binary.LittleEndian.AppendUint64(nil, uint64(stamp()))
		p = binary.LittleEndian.AppendUint64(p, k)
		return client.Message{Topic: []byte(pushTopic), Payload: append(p, filler...)}
	}
	for _, tc := range []struct {
		name      string
		msgs      []client.Message
		wantWrong int64
	}{
		{"in order", []client.Message{msg(0, tmpl), msg(1, tmpl), msg(2, tmpl)}, 0},
		{"gap", []client.Message{msg(0, tmpl), msg(2, tmpl)}, 1},
		{"duplicate", []client.Message{msg(0, tmpl), msg(1, tmpl), msg(1, tmpl)}, 1},
		{"damaged filler", []client.Message{msg(0, []byte("FILLER"))}, 1},
		{"short", []client.Message{{Topic: []byte(pushTopic), Payload: []byte{1, 2, 3}}}, 1},
	} {
		shard := latShard{hist: newHist()}
		s := &pushSub{lat: &shard, tmpl: tmpl}
		for _, m := range tc.msgs {
			s.onMessage(m)
		}
		if s.got.Load() != int64(len(tc.msgs)) || s.wrong != tc.wantWrong {
			t.Errorf("%s: got %d, wrong %d; want %d, %d", tc.name, s.got.Load(), s.wrong, len(tc.msgs), tc.wantWrong)
		}
	}
}
