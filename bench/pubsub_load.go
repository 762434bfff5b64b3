package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/shoalnet/shoal/ws"
)

// The pub/sub load: subscribers connect over WebSocket, subscribe to the
// one topic (centrifuge: with its JSON protocol's connect and subscribe
// commands; shoal and gorilla subscribe every connection on open and say
// so), and then only read. Every line of every text frame must be a
// publication (or centrifuge's ping, answered); its sequence number must
// follow the previous one, and its latency runs from the due time it
// carries to when its frame was read whole.

// pubsubLoadConfig is one run of the pub/sub load.
type pubsubLoadConfig struct {
	addr       string
	centrifuge bool // speak centrifuge's protocol
	subs       int
	rate       float64 // publications per second the server was asked for
	warmup     time.Duration
	duration   time.Duration
}

// pubsubHooks are what runPubSubLoad calls on the way: subscribed once
// every subscriber is (to let the server settle and sample its memory),
// publish to have the server start publishing, and onWindow at the start
// (true) and the end (false) of the measured window, as in runLoad.
type pubsubHooks struct {
	subscribed func()
	publish    func() error
	onWindow   func(start bool)
}

// pubsubResult is what one run of the pub/sub load measured.
type pubsubResult struct {
	subs      int           // subscribed
	failed    int           // subscribers that could not connect or subscribe
	delivered int64         // publications read in the measured window, all subscribers
	window    time.Duration // the measured window
	hist      *hdrhistogram.Histogram
	missing   int64   // publications skipped in a subscriber's sequence, over the whole run
	bad       int64   // lines that are no publication, duplicates, out of order
	dropped   int64   // subscribers whose connection ended before the end of the run
	silent    int64   // subscribers that read no publication at all
	published uint64  // the highest sequence number read
	clientCPU float64 // this process's CPU time in the window, seconds
	firstErr  error
}

// pubsubSetupTimeout bounds a subscriber's handshake and subscribe.
const pubsubSetupTimeout = 10 * time.Second

// psSub is one subscriber. Once it runs, its fields are its goroutine's
// until the run is over.
type psSub struct {
	c    *net.TCPConn
	mask [4]byte
	lat  *latShard

	buf  []byte // what was read and not yet parsed: buf[r:w]
	r, w int
	frag []byte // the payload of a message in fragments so far
	out  []byte // frames to write (pongs)

	next      uint64 // the sequence number expected next
	total     int64  // publications read
	delivered int64  // in the measured window
	missing   int64
	bad       int64
	err       error // why the connection ended before the end of the run
}

// The first bytes of every publication, and of a centrifuge reply to the
// subscribe command (its id is 2).
var (
	pubsubMsgStart   = []byte(`{"ts":`)
	centrifugeSubbed = []byte(`{"id":2,`)
)

// centrifugeHello is the connect and subscribe commands of a centrifuge
// client, in one frame, as its SDKs batch them.
var centrifugeHello = []byte(`{"id":1,"connect":{}}` + "\n" + `{"id":2,"subscribe":{"channel":"` + pubsubTopic + `"}}`)

// errSub marks a subscriber that saw something it should not have.
var errSub = errors.New("pubsub: unexpected")

func newPSSub(i int, c *net.TCPConn, lat *latShard) *psSub {
	return &psSub{
		c:    c,
		mask: [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5},
		lat:  lat,
		buf:  make([]byte, 2<<10),
		next: 1,
	}
}

// runPubSubLoad connects and subscribes cfg.subs subscribers, calls the
// hooks, reads through the warm-up and the measured window, and adds up
// what the subscribers read.
func runPubSubLoad(cfg pubsubLoadConfig, h pubsubHooks) (pubsubResult, error) {
	shards := make([]latShard, 16)
	for i := range shards {
		shards[i].hist = newHist()
	}
	subs := make([]*psSub, cfg.subs)
	upgrade := wsRequest(cfg.addr)
	conns, failed, firstErr := forEachConn(cfg.addr, cfg.subs, func(i int, c *net.TCPConn) error {
		s := newPSSub(i, c, &shards[i%len(shards)])
		if err := s.subscribe(upgrade, cfg.centrifuge); err != nil {
			return err
		}
		subs[i] = s
		return nil
	})
	defer closeAll(conns)
	res := pubsubResult{subs: len(conns), failed: failed, firstErr: firstErr, hist: newHist()}
	if len(conns) == 0 {
		return res, fmt.Errorf("no subscriber subscribed: %w", firstErr)
	}

	var phase atomic.Int32
	var wg sync.WaitGroup
	for _, s := range subs {
		if s != nil {
			wg.Go(func() { s.run(&phase) })
		}
	}
	h.subscribed()
	if err := h.publish(); err != nil {
		unblockAll(conns)
		wg.Wait()
		return res, err
	}
	var cpu0 time.Duration
	res.window = measureWindow(&phase, cfg.warmup, cfg.duration, func(start bool) {
		h.onWindow(start)
		if cpu, err := processCPU(os.Getpid()); err == nil {
			if start {
				cpu0 = cpu
			} else {
				res.clientCPU = (cpu - cpu0).Seconds()
			}
		}
	})
	unblockAll(conns)
	wg.Wait()

	for _, s := range subs {
		if s == nil {
			continue
		}
		res.delivered += s.delivered
		res.missing += s.missing
		res.bad += s.bad
		res.published = max(res.published, s.next-1)
		if s.total == 0 {
			res.silent++
		}
		if s.err != nil {
			res.dropped++
			if res.firstErr == nil {
				res.firstErr = s.err
			}
		}
	}
	for i := range shards {
		res.hist.Merge(shards[i].hist)
	}
	return res, nil
}

// wsRequest is the upgrade request of a subscriber to addr.
func wsRequest(addr string) []byte {
	return []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

// subscribe upgrades the connection and subscribes; what follows the
// answers stays in the buffer for run.
func (s *psSub) subscribe(upgrade []byte, centrifuge bool) error {
	s.c.SetDeadline(time.Now().Add(pubsubSetupTimeout))
	defer s.c.SetDeadline(time.Time{})
	if _, err := s.c.Write(upgrade); err != nil {
		return err
	}
	for {
		if end := bytes.Index(s.buf[s.r:s.w], crlfcrlf); end >= 0 {
			if err := checkUpgraded(s.buf[s.r : s.r+end+2]); err != nil {
				return err
			}
			s.r += end + len(crlfcrlf)
			break
		}
		if s.w == len(s.buf) {
			return fmt.Errorf("ws: handshake answer over %d bytes", len(s.buf))
		}
		if err := s.fill(); err != nil {
			return err
		}
	}
	if centrifuge {
		if _, err := s.c.Write(ws.AppendMaskedFrame(nil, ws.OpText, true, s.mask, centrifugeHello)); err != nil {
			return err
		}
	}
	for {
		msg, err := s.nextMessage()
		if err != nil {
			return err
		}
		for len(msg) > 0 {
			var line []byte
			line, msg = cutJSONLine(msg)
			switch {
			case !centrifuge && bytes.Equal(line, pubsubSubscribed):
				return nil
			case !centrifuge:
				return fmt.Errorf("%w: %q before the subscription was confirmed", errSub, line)
			case bytes.Contains(line, []byte(`"error"`)):
				return fmt.Errorf("centrifuge: %s", line)
			case bytes.HasPrefix(line, centrifugeSubbed):
				if len(msg) > 0 {
					return fmt.Errorf("%w: %q after the subscribe reply", errSub, msg)
				}
				return nil
			}
		}
	}
}

// cutJSONLine cuts the first of the newline-separated JSON values of a
// message.
func cutJSONLine(msg []byte) (line, rest []byte) {
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i], msg[i+1:]
	}
	return msg, nil
}

// run reads publications until the connection fails or the run is over.
func (s *psSub) run(phase *atomic.Int32) {
	for {
		msg, err := s.nextMessage()
		if err != nil {
			if phase.Load() != phaseDone {
				s.err = err
			}
			return
		}
		now := time.Now().UnixNano()
		measuring := phase.Load() == phaseMeasure
		for len(msg) > 0 {
			var line []byte
			line, msg = cutJSONLine(msg)
			s.line(line, now, measuring)
		}
		if len(s.out) > 0 {
			if _, err := s.c.Write(s.out); err != nil {
				if phase.Load() != phaseDone {
					s.err = err
				}
				return
			}
			s.out = s.out[:0]
		}
	}
}

// line takes one JSON value of a text message read at now (unix ns).
func (s *psSub) line(line []byte, now int64, measuring bool) {
	if bytes.Equal(line, []byte("{}")) { // centrifuge's ping
		s.out = ws.AppendMaskedFrame(s.out, ws.OpText, true, s.mask, line)
		return
	}
	ts, seq, ok := parsePubsubLine(line)
	switch {
	case !ok:
		s.bad++
		return
	case seq < s.next:
		s.bad++ // a duplicate, or out of order
		return
	case seq > s.next:
		s.missing += int64(seq - s.next)
	}
	s.next = seq + 1
	s.total++
	if measuring {
		s.delivered++
		s.lat.mu.Lock()
		s.lat.hist.RecordValue(min(max(now-ts, histMin), histMax))
		s.lat.mu.Unlock()
	}
}

// parsePubsubLine finds the publication in line (all of it, or the data of
// a centrifuge push) and returns its due time and sequence number; ok is
// false unless it is exactly what pubsubMessage makes.
func parsePubsubLine(line []byte) (ts int64, seq uint64, ok bool) {
	i := bytes.Index(line, pubsubMsgStart)
	if i < 0 || len(line)-i < pubsubMsgSize {
		return 0, 0, false
	}
	m := line[i : i+pubsubMsgSize]
	p := m[len(pubsubMsgStart):]
	digits := func(sep string) (uint64, bool) {
		j := bytes.IndexByte(p, ',')
		if j <= 0 || !bytes.HasPrefix(p[j:], []byte(sep)) {
			return 0, false
		}
		v, ok := parseDigits(p[:j])
		p = p[j+len(sep):]
		return v, ok
	}
	t, ok1 := digits(`,"seq":`)
	n, ok2 := digits(`,"pad":"`)
	if !ok1 || !ok2 || len(p) < 2 || string(p[len(p)-2:]) != `"}` {
		return 0, 0, false
	}
	for _, b := range p[:len(p)-2] {
		if b != 'x' {
			return 0, 0, false
		}
	}
	return int64(t), n, true
}

// parseDigits parses a decimal number of 1 to 19 digits.
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// pubsubMaxMessage bounds a message a subscriber reads.
const pubsubMaxMessage = 16 << 20

// nextMessage returns the next text message (valid until the next call),
// answering pings on the way; a close frame or any other frame is an
// error.
func (s *psSub) nextMessage() ([]byte, error) {
	for {
		fin, op, payload, err := s.nextFrame()
		if err != nil {
			return nil, err
		}
		switch {
		case op == ws.OpPing:
			s.out = ws.AppendMaskedFrame(s.out, ws.OpPong, true, s.mask, payload)
			if _, err := s.c.Write(s.out); err != nil {
				return nil, err
			}
			s.out = s.out[:0]
		case op == ws.OpPong:
		case op == ws.OpClose:
			code := ws.CloseNoStatus
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			return nil, fmt.Errorf("%w: the server closed with %d %q", errSub, code, payload[min(2, len(payload)):])
		case op == ws.OpText && fin && s.frag == nil:
			return payload, nil
		case op == ws.OpText && s.frag == nil, op == ws.OpContinuation && s.frag != nil:
			if len(s.frag)+len(payload) > pubsubMaxMessage {
				return nil, fmt.Errorf("%w: a message over %d bytes", errSub, pubsubMaxMessage)
			}
			s.frag = append(s.frag, payload...)
			if fin {
				msg := s.frag
				s.frag = nil
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("%w: frame of opcode %d (fin %v)", errSub, op, fin)
		}
	}
}

// nextFrame returns the next server frame, waiting for all of it; its
// payload is valid until the next call. Server frames are unmasked.
func (s *psSub) nextFrame() (fin bool, op ws.Opcode, payload []byte, err error) {
	if err := s.want(2); err != nil {
		return false, 0, nil, err
	}
	h := s.buf[s.r:]
	if h[1]&0x80 != 0 || h[0]&0x70 != 0 {
		return false, 0, nil, fmt.Errorf("%w: header % x", errSub, h[:2])
	}
	fin, op = h[0]&0x80 != 0, ws.Opcode(h[0]&0x0f)
	hlen, n := 2, uint64(h[1]&0x7f)
	switch n {
	case 126:
		hlen = 4
	case 127:
		hlen = 10
	}
	if err := s.want(hlen); err != nil {
		return false, 0, nil, err
	}
	h = s.buf[s.r:]
	switch hlen {
	case 4:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
	case 10:
		n = binary.BigEndian.Uint64(h[2:])
	}
	if n > pubsubMaxMessage {
		return false, 0, nil, fmt.Errorf("%w: a frame of %d bytes", errSub, n)
	}
	if err := s.want(hlen + int(n)); err != nil {
		return false, 0, nil, err
	}
	payload = s.buf[s.r+hlen : s.r+hlen+int(n)]
	s.r += hlen + int(n)
	return fin, op, payload, nil
}

// want reads until n bytes are buffered, moving what is buffered to the
// front, or into a larger buffer, to make room.
func (s *psSub) want(n int) error {
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	for s.w-s.r < n {
		if len(s.buf)-s.r < n {
			if n > len(s.buf) {
				nb := make([]byte, max(n, 2*len(s.buf)))
				s.w = copy(nb, s.buf[s.r:s.w])
				s.buf = nb
			} else {
				s.w = copy(s.buf, s.buf[s.r:s.w])
			}
			s.r = 0
		}
		if err := s.fill(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads once into the free end of the buffer.
func (s *psSub) fill() error {
	m, err := s.c.Read(s.buf[s.w:])
	s.w += m
	if m > 0 {
		return nil
	}
	return err
}
