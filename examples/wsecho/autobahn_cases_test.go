package main

// The case table: Autobahn|Testsuite's cases 1.1.1 to 10.1.1 (the
// fuzzingclient's sections 1-7, 9 and 10; 8 has none, 11 and up are
// compression and WAMP), with the suite's payloads, sizes, fragmentation,
// write chopping and expected outcomes, numbered as it numbers them.

import (
	"bytes"
	"fmt"
	"time"

	"github.com/shoalnet/shoal/ws"
)

const (
	opText   = ws.OpText
	opBinary = ws.OpBinary
	opCont   = ws.OpContinuation
	opClose  = ws.OpClose
	opPing   = ws.OpPing
	opPong   = ws.OpPong
)

// repeatTo is pattern repeated to n bytes (Autobahn's payload_len).
func repeatTo(pattern string, n int) []byte {
	if n == 0 {
		return []byte{}
	}
	return bytes.Repeat([]byte(pattern), n/len(pattern)+1)[:n]
}

func normalClose() closeExpect {
	return closeExpect{byFuzzer: true, codes: []int{ws.CloseNormal}, clean: true}
}

// echoes is a case whose events must be evs, after which the fuzzer closes
// normally.
func echoes(id, desc string, script func(*session), evs ...event) *abCase {
	return &abCase{id: id, desc: desc, script: script, expected: map[verdict][]event{vOK: evs}, close: normalClose(), closeAfter: true}
}

// fails is a case where the server must fail the connection with code, and
// send nothing before.
func fails(id, desc string, code int, script func(*session)) *abCase {
	return &abCase{id: id, desc: desc, script: script, expected: map[verdict][]event{vOK: nil}, close: closeExpect{codes: []int{code}}}
}

// failsAfter is a case where the server must send evs, then fail the
// connection with 1002; failing it before evs is NON-STRICT.
func failsAfter(id, desc string, script func(*session), evs ...event) *abCase {
	c := fails(id, desc, ws.CloseProtocolError, script)
	c.expected[vOK] = evs
	c.expected[vNonStrict] = nil
	return c
}

// failsUTF8 is a case where the server must fail the connection with
// 1007: the text is not UTF-8.
func failsUTF8(id, desc string, script func(*session)) *abCase {
	c := fails(id, desc, ws.CloseInvalidPayload, script)
	c.close.wrongEndpointFatal = true
	return c
}

// closes is a case of section 7: the script starts the closing handshake
// (and may send more frames after its close), and the server must answer
// with one of codes, or a close without a code.
func closes(id, desc string, codes []int, clean bool, script func(*session)) *abCase {
	return &abCase{id: id, desc: desc, script: script, expected: map[verdict][]event{vOK: nil},
		close: closeExpect{byFuzzer: true, codes: codes, clean: clean}, suppressClose: true}
}

// sends returns a script that sends frames.
func sends(frames ...fr) func(*session) {
	return func(s *session) { s.send(frames...) }
}

func autobahnCases() []*abCase {
	var cs []*abCase
	add := func(c ...*abCase) { cs = append(cs, c...) }
	framing(add)
	pingPong(add)
	reservedBits(add)
	opcodes(add)
	fragmentation(add)
	utf8Cases(add)
	closing(add)
	limits(add)
	autoFragmentation(add)
	return cs
}

var hello = []byte("Hello, world!")

// 1 Framing: text and binary messages of the lengths around the header's
// three length forms, whole, and chopped into writes of 997 bytes.
func framing(add func(...*abCase)) {
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for _, kind := range []struct {
		sub     int
		op      ws.Opcode
		pattern string
	}{{1, opText, "*"}, {2, opBinary, "\xfe"}} {
		ev := func(p []byte) event { return event{kind: "message", op: kind.op, data: p} }
		for i, n := range lengths {
			p := repeatTo(kind.pattern, n)
			c := echoes(fmt.Sprintf("1.%d.%d", kind.sub, i+1), fmt.Sprintf("%v message of %d bytes", kind.op, n), sends(fr{op: kind.op, p: p}), ev(p))
			c.cost = n >> 12
			add(c)
		}
		p := repeatTo(kind.pattern, 65536)
		c := echoes(fmt.Sprintf("1.%d.8", kind.sub), fmt.Sprintf("%v message of 65536 bytes, written in chops of 997 bytes", kind.op),
			sends(fr{op: kind.op, p: p, chop: 997}), ev(p))
		c.cost = 16
		add(c)
	}
}

// 2 Pings and pongs.
func pingPong(add func(...*abCase)) {
	pings := []struct {
		desc string
		p    []byte
		chop int
	}{
		{"ping without payload", nil, 0},
		{"ping with a text payload", hello, 0},
		{"ping with a binary payload", []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), 0},
		{"ping with a 125-byte binary payload", repeatTo("\xfe", 125), 0},
	}
	for i, c := range pings {
		add(echoes(fmt.Sprintf("2.%d", i+1), c.desc+": the pong echoes it", sends(fr{op: opPing, p: c.p}), evPong(string(c.p))))
	}
	add(fails("2.5", "ping with a 126-byte payload: control frames carry at most 125", ws.CloseProtocolError,
		sends(fr{op: opPing, p: repeatTo("\xfe", 126)})))
	p125 := repeatTo("\xfe", 125)
	add(echoes("2.6", "ping with a 125-byte payload, written in chops of 1 byte", sends(fr{op: opPing, p: p125, chop: 1}), evPong(string(p125))))
	unsolicited := []byte("unsolicited pong payload")
	for i, p := range [][]byte{nil, unsolicited} {
		c := echoes(fmt.Sprintf("2.%d", 7+i), fmt.Sprintf("unsolicited pong %s, then close: nothing answers the pong", show(p)), func(s *session) {
			s.send(fr{op: opPong, p: p})
			s.closeWith(ws.CloseNormal, "")
		})
		add(c)
	}
	add(echoes("2.9", "unsolicited pong, then a ping: only the ping is answered",
		sends(fr{op: opPong, p: unsolicited}, fr{op: opPing, p: []byte("ping payload")}), evPong("ping payload")))
	for i, chop := range []int{0, 1} {
		var evs []event
		var frames []fr
		for k := range 10 {
			p := fmt.Sprintf("payload-%d", k)
			evs = append(evs, evPong(p))
			frames = append(frames, fr{op: opPing, p: []byte(p), chop: chop})
		}
		desc := "10 pings: 10 pongs with their payloads, in order"
		if chop > 0 {
			desc += "; each written in chops of 1 byte"
		}
		add(echoes(fmt.Sprintf("2.%d", 10+i), desc, sends(frames...), evs...))
	}
}

// 3 Reserved bits: no extension is negotiated, so any is a failure.
func reservedBits(add func(...*abCase)) {
	add(fails("3.1", "text message with RSV = 1", ws.CloseProtocolError, sends(fr{op: opText, p: hello, rsv: 1})))
	for i, c := range []struct {
		rsv        byte
		sync, chop bool
	}{{2, false, false}, {3, true, false}, {4, false, true}} {
		how := ""
		switch {
		case c.sync:
			how = ", each frame written alone"
		case c.chop:
			how = ", each frame written in chops of 1 byte"
		}
		chop := 0
		if c.chop {
			chop = 1
		}
		add(failsAfter(fmt.Sprintf("3.%d", 2+i), fmt.Sprintf("text message, then one with RSV = %d, then a ping%s: the first is echoed, the ping not answered", c.rsv, how),
			sends(fr{op: opText, p: hello, sync: c.sync, chop: chop}, fr{op: opText, p: hello, rsv: c.rsv, sync: c.sync, chop: chop}, fr{op: opPing, sync: c.sync, chop: chop}),
			evText(string(hello))))
	}
	add(fails("3.5", "binary message with RSV = 5", ws.CloseProtocolError, sends(fr{op: opBinary, p: []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), rsv: 5})))
	// Autobahn describes 3.6 as a ping; the frame it sends is binary.
	add(fails("3.6", "binary message with RSV = 6", ws.CloseProtocolError, sends(fr{op: opBinary, p: hello, rsv: 6})))
	add(fails("3.7", "close with RSV = 7", ws.CloseProtocolError, sends(fr{op: opClose, rsv: 7})))
}

// 4 Reserved opcodes: 3-7 (non-control), 11-15 (control).
func opcodes(add func(...*abCase)) {
	for sub, base := range []ws.Opcode{3, 11} {
		kind := []string{"non-control", "control"}[sub]
		add(fails(fmt.Sprintf("4.%d.1", sub+1), fmt.Sprintf("frame of reserved %s opcode %d", kind, base), ws.CloseProtocolError,
			sends(fr{op: base})))
		add(fails(fmt.Sprintf("4.%d.2", sub+1), fmt.Sprintf("frame of reserved %s opcode %d with a payload", kind, base+1), ws.CloseProtocolError,
			sends(fr{op: base + 1, p: []byte("reserved opcode payload")})))
		for k, c := range []struct {
			payload []byte
			chop    int
		}{{nil, 0}, {hello, 0}, {hello, 1}} {
			op := base + 2 + ws.Opcode(k)
			how := ""
			if c.chop > 0 {
				how = ", each frame written in chops of 1 byte"
			}
			add(failsAfter(fmt.Sprintf("4.%d.%d", sub+1, 3+k), fmt.Sprintf("text message, then a frame of reserved opcode %d, then a ping%s", op, how),
				sends(fr{op: opText, p: hello, chop: c.chop}, fr{op: op, p: c.payload, chop: c.chop}, fr{op: opPing, chop: c.chop}),
				evText(string(hello))))
		}
	}
}

// 5 Fragmentation.
func fragmentation(add func(...*abCase)) {
	f := func(s string) []byte { return []byte(s) }
	add(fails("5.1", "ping in 2 fragments", ws.CloseProtocolError,
		sends(fr{op: opPing, p: f("fragment1"), more: true}, fr{op: opCont, p: f("fragment2")})))
	add(fails("5.2", "pong in 2 fragments", ws.CloseProtocolError,
		sends(fr{op: opPong, p: f("fragment1"), more: true}, fr{op: opCont, p: f("fragment2")})))
	ways := []struct {
		how  string
		sync bool
		chop int
	}{{"", false, 0}, {", each frame written alone", true, 0}, {", each frame written in chops of 1 byte", false, 1}}
	for i, w := range ways {
		add(echoes(fmt.Sprintf("5.%d", 3+i), "text message in 2 fragments"+w.how,
			sends(fr{op: opText, p: f("fragment1"), more: true, sync: w.sync, chop: w.chop}, fr{op: opCont, p: f("fragment2"), sync: w.sync, chop: w.chop}),
			evText("fragment1fragment2")))
	}
	for i, w := range ways {
		add(echoes(fmt.Sprintf("5.%d", 6+i), "text message in 2 fragments, a ping between them"+w.how,
			sends(fr{op: opText, p: f("fragment1"), more: true, sync: w.sync, chop: w.chop}, fr{op: opPing, p: f("ping payload"), sync: w.sync, chop: w.chop},
				fr{op: opCont, p: f("fragment2"), sync: w.sync, chop: w.chop}),
			evPong("ping payload"), evText("fragment1fragment2")))
	}
	for i, w := range ways {
		add(fails(fmt.Sprintf("5.%d", 9+i), "final continuation frame without a message, then a text message"+w.how, ws.CloseProtocolError,
			sends(fr{op: opCont, p: f("non-continuation payload"), sync: w.sync, chop: w.chop}, fr{op: opText, p: hello, sync: w.sync, chop: w.chop})))
	}
	for i, w := range ways {
		add(fails(fmt.Sprintf("5.%d", 12+i), "non-final continuation frame without a message, then a text message"+w.how, ws.CloseProtocolError,
			sends(fr{op: opCont, p: f("non-continuation payload"), more: true, sync: w.sync, chop: w.chop}, fr{op: opText, p: hello, sync: w.sync, chop: w.chop})))
	}
	add(failsAfter("5.15", "text message in 2 fragments, then a continuation frame without a message, then a text frame",
		sends(fr{op: opText, p: f("fragment1"), more: true}, fr{op: opCont, p: f("fragment2")}, fr{op: opCont, p: f("fragment3"), more: true}, fr{op: opText, p: f("fragment4")}),
		evText("fragment1fragment2")))
	add(fails("5.16", "twice: continuation (not final) without a message, text (not final), continuation (final)", ws.CloseProtocolError,
		sends(fr{op: opCont, p: f("fragment1"), more: true}, fr{op: opText, p: f("fragment2"), more: true}, fr{op: opCont, p: f("fragment3")},
			fr{op: opCont, p: f("fragment1"), more: true}, fr{op: opText, p: f("fragment2"), more: true}, fr{op: opCont, p: f("fragment3")})))
	add(fails("5.17", "twice: continuation (final) without a message, text (not final), continuation (final)", ws.CloseProtocolError,
		sends(fr{op: opCont, p: f("fragment1")}, fr{op: opText, p: f("fragment2"), more: true}, fr{op: opCont, p: f("fragment3")},
			fr{op: opCont, p: f("fragment1")}, fr{op: opText, p: f("fragment2"), more: true}, fr{op: opCont, p: f("fragment3")})))
	add(fails("5.18", "text message in 2 fragments, both with the text opcode", ws.CloseProtocolError,
		sends(fr{op: opText, p: f("fragment1"), more: true}, fr{op: opText, p: f("fragment2")})))
	for i, sync := range []bool{false, true} {
		desc := "text message in 5 fragments and 2 pings among them, a pause of 1 s in the middle"
		if sync {
			desc += ", each frame written alone"
		}
		c := echoes(fmt.Sprintf("5.%d", 19+i), desc, func(s *session) {
			s.send(fr{op: opText, p: f("fragment1"), more: true, sync: sync}, fr{op: opCont, p: f("fragment2"), more: true, sync: sync},
				fr{op: opPing, p: f("pongme 1!"), sync: sync})
			if !s.later(time.Second) {
				return
			}
			s.send(fr{op: opCont, p: f("fragment3"), more: true, sync: sync}, fr{op: opCont, p: f("fragment4"), more: true, sync: sync},
				fr{op: opPing, p: f("pongme 2!"), sync: sync}, fr{op: opCont, p: f("fragment5"), sync: sync})
		}, evPong("pongme 1!"), evPong("pongme 2!"), evText("fragment1fragment2fragment3fragment4fragment5"))
		c.cost = 1000
		add(c)
	}
}

// 6 UTF-8 handling.
func utf8Cases(add func(...*abCase)) {
	add(echoes("6.1.1", "text message of 0 bytes", sends(fr{op: opText, p: []byte{}}), evText("")))
	add(echoes("6.1.2", "text message in 3 fragments of 0 bytes",
		sends(fr{op: opText, p: []byte{}, more: true}, fr{op: opCont, p: []byte{}, more: true}, fr{op: opCont, p: []byte{}}), evText("")))
	add(echoes("6.1.3", "text message in 3 fragments, the first and last of 0 bytes",
		sends(fr{op: opText, p: []byte{}, more: true}, fr{op: opCont, p: []byte("middle frame payload"), more: true}, fr{op: opCont, p: []byte{}}),
		evText("middle frame payload")))

	const p1, p2 = "Hello-µ@ßöä", "üàá-UTF-8!!"
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" // κόσμε
	add(echoes("6.2.1", "valid UTF-8 text message in 1 frame", func(s *session) { s.message(opText, []byte(p1+p2), 0) }, evText(p1+p2)))
	add(echoes("6.2.2", "valid UTF-8 text message in 2 fragments, split on a code point boundary",
		sends(fr{op: opText, p: []byte(p1), more: true}, fr{op: opCont, p: []byte(p2)}), evText(p1+p2)))
	add(echoes("6.2.3", "valid UTF-8 text message in fragments of 1 byte (frames end inside code points)",
		func(s *session) { s.message(opText, []byte(p1+p2), 1) }, evText(p1+p2)))
	add(echoes("6.2.4", "valid UTF-8 text message (κόσμε) in fragments of 1 byte",
		func(s *session) { s.message(opText, []byte(kosme), 1) }, evText(kosme)))

	invalid := []byte(kosme + "\xed\xa0\x80" + "edited") // a surrogate at byte 12
	add(failsUTF8("6.3.1", "invalid UTF-8 text message in 1 frame", func(s *session) { s.message(opText, invalid, 0) }))
	add(failsUTF8("6.3.2", "invalid UTF-8 text message in fragments of 1 byte", func(s *session) { s.message(opText, invalid, 1) }))

	// 6.4: fail fast. The text turns invalid at byte 12 (F4 90: above
	// U+10FFFF); it is sent in 3 parts with a pause after each. The server
	// must fail the connection on the second part: after the third is
	// NON-STRICT.
	failFast := []byte(kosme + "\xf4\x90\x80\x80" + "edited")
	for i, c := range []struct {
		desc  string
		cut   [2]int // the parts: [:cut0], [cut0:cut1], [cut1:]
		chops bool   // the parts are chops of one frame, not 3 frames
	}{
		{"3 fragments, the second holding the invalid code point", [2]int{11, 15}, false},
		{"3 fragments, the second the one invalid byte", [2]int{12, 13}, false},
		{"1 frame written in 3 chops, the second holding the invalid code point", [2]int{11, 15}, true},
		{"1 frame written in 3 chops, the second the one invalid byte", [2]int{12, 13}, true},
	} {
		parts := [][]byte{failFast[:c.cut[0]], failFast[c.cut[0]:c.cut[1]], failFast[c.cut[1]:]}
		fc := fails(fmt.Sprintf("6.4.%d", i+1), "fail fast: invalid UTF-8 text message in "+c.desc+", 1 s apart", ws.CloseInvalidPayload, func(s *session) {
			var writes [3]func()
			if c.chops {
				frame := s.appendFrame(nil, fr{op: opText, p: failFast, more: true})
				head := len(frame) - len(failFast)
				at := []int{0, head + c.cut[0], head + c.cut[1], len(frame)}
				for k := range writes {
					writes[k] = func() { s.write(frame[at[k]:at[k+1]]) }
				}
				last := writes[2]
				writes[2] = func() { last(); s.send(fr{op: opCont, p: []byte{}}) } // Autobahn's endMessage
			} else {
				for k := range writes {
					f := fr{op: opCont, p: parts[k], more: k < 2}
					if k == 0 {
						f.op = opText
					}
					writes[k] = func() { s.send(f) }
				}
			}
			writes[0]()
			if !s.later(time.Second) { // the server must not fail on valid text
				return
			}
			s.received = append(s.received, evTimeout("A"))
			writes[1]()
			if !s.later(abPatience / 2) { // it fails here, fast
				return
			}
			s.received = append(s.received, evTimeout("B"))
			writes[2]()
		})
		fc.close.wrongEndpointFatal = true
		fc.expected[vOK] = []event{evTimeout("A")}
		fc.expected[vNonStrict] = []event{evTimeout("A"), evTimeout("B")}
		fc.cost = 1100
		add(fc)
	}

	// 6.5 to 6.23: Markus Kuhn's UTF-8 decoder test sequences, one text
	// message each.
	for g, group := range utf8Groups() {
		for k, seq := range group.seqs {
			id := fmt.Sprintf("6.%d.%d", 5+g, k+1)
			p := seq.p
			script := func(s *session) { s.message(opText, p, 0) }
			if seq.valid {
				add(echoes(id, fmt.Sprintf("%s: valid UTF-8 % x", group.name, p), script, evText(string(p))))
			} else {
				add(failsUTF8(id, fmt.Sprintf("%s: invalid UTF-8 % x", group.name, p), script))
			}
		}
	}
}

// 7 Close handling.
func closing(add func(...*abCase)) {
	msg := []byte("Hello World!")
	normal := []int{ws.CloseNormal}
	protocol := []int{ws.CloseProtocolError}
	c := echoes("7.1.1", "text message, then close", sends(fr{op: opText, p: msg}), evText(string(msg)))
	add(c)
	add(closes("7.1.2", "close, then a second close frame: ignored", normal, true, func(s *session) {
		s.closeWith(ws.CloseNormal, "")
		s.send(fr{op: opClose})
	}))
	add(closes("7.1.3", "close, then a ping: no pong", normal, true, func(s *session) {
		s.closeWith(ws.CloseNormal, "")
		s.send(fr{op: opPing})
	}))
	add(closes("7.1.4", "close, then a text message: ignored", normal, true, func(s *session) {
		s.closeWith(ws.CloseNormal, "")
		s.send(fr{op: opText, p: msg})
	}))
	add(closes("7.1.5", "first fragment of a text message, close, then the last fragment", normal, true, func(s *session) {
		s.send(fr{op: opText, p: []byte("fragment1"), more: true})
		s.closeWith(ws.CloseNormal, "")
		s.send(fr{op: opCont, p: []byte("fragment2")})
	}))
	c = closes("7.1.6", "text message of 256 KiB, a small one, close, then a ping (outcome left open by the spec)", normal, true, func(s *session) {
		s.send(fr{op: opText, p: repeatTo("BAsd7&jh23", 256<<10)}, fr{op: opText, p: msg})
		s.closeWith(ws.CloseNormal, "")
		s.send(fr{op: opPing})
	})
	c.expected[vOK] = []event{evText(string(msg))}
	c.expected[vNonStrict] = nil
	c.informational = true
	c.judge = func(s *session, _ *verdict, result *string) {
		// Autobahn's outcomes leave out the echo of the big message, which
		// an echo server sends first: say what happened instead.
		switch n := len(s.received); {
		case n == 2 && s.received[0].kind == "message" && len(s.received[0].data) == 256<<10 && s.received[1].equal(evText(string(msg))):
			*result = "both messages were echoed before the close was answered (Autobahn's outcomes do not count the big one's echo)"
		case n == 0:
			*result = "the close was answered before the messages were echoed"
		}
	}
	add(c)

	add(closes("7.3.1", "close without payload", normal, true, func(s *session) { s.closeFrame(nil) }))
	add(closes("7.3.2", "close with a 1-byte payload", protocol, false, func(s *session) { s.closeFrame([]byte("a")) }))
	add(closes("7.3.3", "close with code 1000", normal, true, func(s *session) { s.closeWith(ws.CloseNormal, "") }))
	add(closes("7.3.4", "close with code 1000 and a reason", normal, true, func(s *session) { s.closeWith(ws.CloseNormal, "Hello World!") }))
	add(closes("7.3.5", "close with code 1000 and a reason of 123 bytes (the most)", normal, true, func(s *session) {
		s.closeWith(ws.CloseNormal, string(repeatTo("*", 123)))
	}))
	add(closes("7.3.6", "close with code 1000 and a reason of 124 bytes: a payload of 126", protocol, false, func(s *session) {
		s.closeWith(ws.CloseNormal, string(repeatTo("*", 124)))
	}))
	add(closes("7.5.1", "close with code 1000 and a reason that is not UTF-8", []int{ws.CloseProtocolError, ws.CloseInvalidPayload}, false, func(s *session) {
		s.closeWith(ws.CloseNormal, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
	}))
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		add(closes(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("close with valid code %d: answered with 1000 or %d", code, code), []int{ws.CloseNormal, code}, true,
			func(s *session) { s.closeWith(code, "") }))
	}
	// The invalid codes of the suite since 2018 (1014 and 1015 were
	// dropped from the list then).
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		add(closes(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("close with invalid code %d: 1002", code), protocol, false,
			func(s *session) { s.closeWith(code, "") }))
	}
	// 1015 (TLS handshake failure) is never on the wire either: it was in
	// the list until then, and is kept as a supplementary case.
	c = closes("7.9.x-1015", "close with invalid code 1015 (in the suite's 7.9 list until 2018): 1002", protocol, false,
		func(s *session) { s.closeWith(1015, "") })
	c.supplementary = true
	add(c)
	for i, code := range []int{5000, 65535} {
		c := closes(fmt.Sprintf("7.13.%d", i+1), fmt.Sprintf("close with code %d (outcome left open by the spec)", code), []int{ws.CloseNormal, code, ws.CloseProtocolError}, false,
			func(s *session) { s.closeWith(code, "") })
		c.informational = true
		add(c)
	}
}

// 9 Limits and performance: big messages, whole, fragmented and chopped,
// and runs of 1000 small ones. Each echo is checked whole, byte for byte.
func limits(add func(...*abCase)) {
	const mib = 1 << 20
	const text, bin = "BAsd7&jh23", "\x00\xfe\x23\xfa\xf0"
	bigEcho := func(id, desc string, op ws.Opcode, p func() []byte, send func(s *session, p []byte)) *abCase {
		return &abCase{id: id, desc: desc, close: normalClose(), big: true,
			script: func(s *session) {
				s.want = p()
				s.result = "no echo came"
				send(s, s.want)
			},
			onMessage: func(s *session, got ws.Opcode, m []byte) {
				switch {
				case got != op:
					s.behavior, s.result = vFailed, fmt.Sprintf("expected a %v message, got %v", op, got)
				case len(m) != len(s.want):
					s.behavior, s.result = vFailed, fmt.Sprintf("expected a message of %d bytes, got %d", len(s.want), len(m))
				case !bytes.Equal(m, s.want):
					s.behavior, s.result = vFailed, fmt.Sprintf("the echo of %d bytes differs from the message", len(m))
				default:
					s.behavior, s.result = vOK, fmt.Sprintf("received the %v message of %d bytes", op, len(m))
				}
				s.closeWith(ws.CloseNormal, "")
			}}
	}
	whole := func(op ws.Opcode) func(*session, []byte) {
		return func(s *session, p []byte) { s.send(fr{op: op, p: p}) }
	}
	for sub, k := range []struct {
		op      ws.Opcode
		pattern string
	}{{opText, text}, {opBinary, bin}} {
		for i, n := range []int{64 << 10, 256 << 10, 1 * mib, 4 * mib, 8 * mib, 16 * mib} {
			c := bigEcho(fmt.Sprintf("9.%d.%d", sub+1, i+1), fmt.Sprintf("%v message of %d KiB", k.op, n>>10), k.op,
				func() []byte { return repeatTo(k.pattern, n) }, whole(k.op))
			c.cost = 100 + n/mib*40
			add(c)
		}
	}
	for sub, k := range []struct {
		op      ws.Opcode
		pattern string
	}{{opText, "*"}, {opBinary, "\xfe"}} {
		for i, frag := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 * mib, 4 * mib} {
			c := bigEcho(fmt.Sprintf("9.%d.%d", 3+sub, i+1), fmt.Sprintf("%v message of 4 MiB in fragments of %d bytes", k.op, frag), k.op,
				func() []byte { return repeatTo(k.pattern, 4*mib) }, func(s *session, p []byte) { s.message(k.op, p, frag) })
			c.cost = 260 + 4*mib/frag/64
			add(c)
		}
	}
	for sub, k := range []struct {
		op      ws.Opcode
		pattern string
	}{{opText, text}, {opBinary, bin}} {
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			c := bigEcho(fmt.Sprintf("9.%d.%d", 5+sub, i+1), fmt.Sprintf("%v message of 1 MiB written in chops of %d bytes", k.op, chop), k.op,
				func() []byte { return repeatTo(k.pattern, mib) }, func(s *session, p []byte) { s.send(fr{op: k.op, p: p, chop: chop}) })
			c.cost = 100 + mib/chop/16
			add(c)
		}
	}
	for sub, k := range []struct {
		op      ws.Opcode
		pattern string
	}{{opText, "*"}, {opBinary, "\xfe"}} {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			const count = 1000
			p := repeatTo(k.pattern, n)
			add(&abCase{id: fmt.Sprintf("9.%d.%d", 7+sub, i+1), desc: fmt.Sprintf("%d %v messages of %d bytes, each sent when the last one's echo came", count, k.op, n),
				close: normalClose(), big: true, cost: 200,
				script: func(s *session) {
					s.result = fmt.Sprintf("%d of %d echoes came", 0, count)
					s.send(fr{op: k.op, p: p})
					s.count = 1
				},
				onMessage: func(s *session, got ws.Opcode, m []byte) {
					switch {
					case got != k.op || !bytes.Equal(m, p):
						s.behavior, s.result = vFailed, fmt.Sprintf("echo %d: a %v message %s, want %v %s", s.count, got, show(m), k.op, show(p))
						s.closeWith(ws.CloseNormal, "")
					case s.count < count:
						s.result = fmt.Sprintf("%d of %d echoes came", s.count, count)
						s.send(fr{op: k.op, p: p})
						s.count++
					default:
						s.behavior, s.result = vOK, fmt.Sprintf("all %d echoes came", count)
						s.closeWith(ws.CloseNormal, "")
					}
				}})
		}
	}
}

// 10 Miscellaneous: a message the fuzzer fragments by itself, in frames of
// 1300 bytes.
func autoFragmentation(add func(...*abCase)) {
	p := repeatTo("*", 65536)
	c := echoes("10.1.1", "text message of 65536 bytes in frames of 1300 bytes", func(s *session) { s.message(opText, p, 1300) }, evText(string(p)))
	c.judge = func(s *session, behavior *verdict, result *string) {
		if got := [2]int{s.tx[opCont], s.tx[opText]}; got != [2]int{65536 / 1300, 1} {
			*behavior, *result = vFailed, fmt.Sprintf("sent %d continuation and %d text frames, want %d and 1", got[0], got[1], 65536/1300)
		}
	}
	c.cost = 16
	add(c)
}
