package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/shoalnet/shoal/ws"
)

// The pub/sub load: subscribers connect over WebSocket, subscribe to the
// one topic (centrifuge: with its JSON protocol's connect and subscribe
// commands; shoal and gorilla subscribe every connection on open and say
// so), and then only read. Every line of every text frame must be a
// publication (or centrifuge's ping, answered); its sequence number must
// follow the previous one, and its latency runs from the due time it
// carries to when its frame was read whole.
//
// The load generator shares the machine with the server, so it is built
// to take little of it: once subscribed, a connection's socket leaves Go's
// netpoller and is read by one of a few reader goroutines, each waiting in
// an epoll set of its own, one read per readiness into the subscriber's
// buffer, and no goroutine is woken per delivery.

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
	subs      int                     // subscribed
	failed    int                     // subscribers that could not connect or subscribe
	delivered int64                   // publications read in the measured window, all subscribers
	window    time.Duration           // the measured window
	hist      *hdrhistogram.Histogram // latency from the due time
	sentHist  *hdrhistogram.Histogram // latency from the send time
	missing   int64                   // publications skipped in a subscriber's sequence, over the whole run
	bad       int64                   // lines that are no publication, duplicates, out of order
	dropped   int64                   // subscribers whose connection ended before the end of the run
	silent    int64                   // subscribers that read no publication at all
	published uint64                  // the highest sequence number read
	clientCPU float64                 // this process's CPU time in the window, seconds
	firstErr  error
}

// pubsubSetupTimeout bounds a subscriber's handshake and subscribe.
const pubsubSetupTimeout = 10 * time.Second

// psSub is one subscriber. Once it runs, its fields are its goroutine's
// until the run is over.
type psSub struct {
	c        *net.TCPConn // until detached
	fd       int          // once detached: the socket, non-blocking, read by a psReader
	mask     [4]byte
	hist     *hdrhistogram.Histogram // the latencies from the due time of its reader's subscribers
	sentHist *hdrhistogram.Histogram // and from the send time

	buf  []byte // what was read and not yet parsed: buf[r:w]
	r, w int
	need int    // the size of the unfinished frame at buf[r:], once frame has seen it
	frag []byte // the payload of a message in fragments so far
	out  []byte // frames to write (pongs)

	next      uint64 // the sequence number expected next
	total     int64  // publications read
	delivered int64  // in the measured window
	missing   int64
	bad       int64
	err       error // why the connection ended before the end of the run
	done      bool  // it ended: closed, or failed
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

func newPSSub(i int, c *net.TCPConn) *psSub {
	return &psSub{
		c:    c,
		fd:   -1,
		mask: [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5},
		buf:  make([]byte, 2<<10),
		next: 1,
	}
}

// pubsubReaders is how many reader goroutines share the subscribers.
const pubsubReaders = 2

// runPubSubLoad connects and subscribes cfg.subs subscribers, calls the
// hooks, reads through the warm-up and the measured window, and adds up
// what the subscribers read.
func runPubSubLoad(cfg pubsubLoadConfig, h pubsubHooks) (pubsubResult, error) {
	subs := make([]*psSub, cfg.subs)
	upgrade := wsRequest(cfg.addr)
	conns, failed, firstErr := forEachConn(cfg.addr, cfg.subs, func(i int, c *net.TCPConn) error {
		s := newPSSub(i, c)
		if err := s.subscribe(upgrade, cfg.centrifuge); err != nil {
			return err
		}
		if err := s.detach(); err != nil {
			return err
		}
		subs[i] = s
		return nil
	})
	var live []*psSub
	for _, s := range subs {
		if s != nil {
			live = append(live, s)
		}
	}
	defer func() {
		for _, s := range live {
			s.closeNow()
		}
	}()
	res := pubsubResult{subs: len(conns), failed: failed, firstErr: firstErr, hist: newHist(), sentHist: newHist()}
	if len(live) == 0 {
		return res, fmt.Errorf("no subscriber subscribed: %w", firstErr)
	}

	var phase atomic.Int32
	readers := make([]*psReader, pubsubReaders)
	for i := range readers {
		r, err := newPSReader()
		if err != nil {
			for _, r := range readers[:i] {
				r.close()
			}
			return res, err
		}
		readers[i] = r
	}
	for i, s := range live {
		if err := readers[i%len(readers)].add(s); err != nil {
			for _, r := range readers {
				r.close()
			}
			return res, err
		}
	}
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() { r.run(&phase) })
	}
	stop := func() {
		phase.Store(phaseDone)
		wg.Wait()
		for _, r := range readers {
			r.close()
		}
	}
	h.subscribed()
	if err := h.publish(); err != nil {
		stop()
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
	stop()

	for _, s := range live {
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
	for _, r := range readers {
		res.hist.Merge(r.hist)
		res.sentHist.Merge(r.sentHist)
	}
	return res, nil
}

// detach takes the subscriber's socket out of Go's netpoller: it keeps a
// duplicate of the descriptor (non-blocking, like the original) and closes
// the net.TCPConn, which leaves the socket open.
func (s *psSub) detach() error {
	raw, err := s.c.SyscallConn()
	if err != nil {
		return err
	}
	var derr error
	if err := raw.Control(func(fd uintptr) { s.fd, derr = unix.Dup(int(fd)) }); err != nil {
		return err
	}
	if derr != nil {
		return os.NewSyscallError("dup", derr)
	}
	if err := unix.SetNonblock(s.fd, true); err != nil {
		unix.Close(s.fd)
		s.fd = -1
		return os.NewSyscallError("fcntl", err)
	}
	s.c.Close()
	s.c = nil
	return nil
}

// closeNow closes the detached socket with a reset, as closeNow does a
// net.TCPConn.
func (s *psSub) closeNow() {
	if s.fd < 0 {
		return
	}
	unix.SetsockoptLinger(s.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(s.fd)
	s.fd = -1
}

// psReader reads the detached sockets of its subscribers: it waits in its
// epoll set (level-triggered) and reads each ready socket once.
type psReader struct {
	ep       int
	subs     map[int32]*psSub // by descriptor
	hist     *hdrhistogram.Histogram
	sentHist *hdrhistogram.Histogram
}

func newPSReader() (*psReader, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &psReader{ep: ep, subs: map[int32]*psSub{}, hist: newHist(), sentHist: newHist()}, nil
}

func (r *psReader) add(s *psSub) error {
	s.hist, s.sentHist = r.hist, r.sentHist
	r.subs[int32(s.fd)] = s
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(s.fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(r.ep, unix.EPOLL_CTL_ADD, s.fd, &ev))
}

func (r *psReader) close() { unix.Close(r.ep) }

// psWaitMs bounds a reader's wait, so that it sees the end of the run.
const psWaitMs = 50

// run serves the reader's subscribers until the run is over.
func (r *psReader) run(phase *atomic.Int32) {
	events := make([]unix.EpollEvent, 256)
	for phase.Load() != phaseDone {
		n, err := unix.EpollWait(r.ep, events, psWaitMs)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range events[:n] {
			s := r.subs[ev.Fd]
			if s == nil || s.done {
				continue
			}
			if err := s.readable(phase); err != nil {
				s.done = true
				if phase.Load() != phaseDone {
					s.err = err
				}
				unix.EpollCtl(r.ep, unix.EPOLL_CTL_DEL, s.fd, nil)
			}
		}
	}
}

// readable reads once from the detached socket and takes every whole
// frame buffered.
func (s *psSub) readable(phase *atomic.Int32) error {
	s.room()
	n, err := unix.Read(s.fd, s.buf[s.w:])
	switch {
	case err == unix.EAGAIN:
		return nil
	case err != nil:
		return os.NewSyscallError("read", err)
	case n == 0:
		return io.EOF
	}
	s.w += n
	now := time.Now().UnixNano()
	measuring := phase.Load() == phaseMeasure
	for {
		msg, ok, err := s.message()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		for len(msg) > 0 {
			var line []byte
			line, msg = cutJSONLine(msg)
			s.line(line, now, measuring)
		}
	}
	if len(s.out) > 0 {
		_, err := unix.Write(s.fd, s.out)
		s.out = s.out[:0]
		if err != nil {
			return os.NewSyscallError("write", err)
		}
	}
	return nil
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
		if len(s.out) > 0 {
			if _, err := s.c.Write(s.out); err != nil {
				return err
			}
			s.out = s.out[:0]
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

// line takes one JSON value of a text message read at now (unix ns).
func (s *psSub) line(line []byte, now int64, measuring bool) {
	if bytes.Equal(line, []byte("{}")) { // centrifuge's ping
		s.out = ws.AppendMaskedFrame(s.out, ws.OpText, true, s.mask, line)
		return
	}
	ts, sent, seq, ok := parsePubsubLine(line)
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
		s.hist.RecordValue(min(max(now-ts, histMin), histMax))
		s.sentHist.RecordValue(min(max(now-sent, histMin), histMax))
	}
}

// parsePubsubLine finds the publication in line (all of it, or the data of
// a centrifuge push) and returns its due and send times and its sequence
// number; ok is false unless it is exactly what pubsubMessage makes.
func parsePubsubLine(line []byte) (ts, sent int64, seq uint64, ok bool) {
	i := bytes.Index(line, pubsubMsgStart)
	if i < 0 || len(line)-i < pubsubMsgSize {
		return 0, 0, 0, false
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
	t, ok1 := digits(`,"sent":`)
	st, ok2 := digits(`,"seq":`)
	n, ok3 := digits(`,"pad":"`)
	if !ok1 || !ok2 || !ok3 || len(p) < 2 || string(p[len(p)-2:]) != `"}` {
		return 0, 0, 0, false
	}
	for _, b := range p[:len(p)-2] {
		if b != 'x' {
			return 0, 0, 0, false
		}
	}
	return int64(t), int64(st), n, true
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

// nextMessage returns the next text message (valid until the next read),
// reading the net.TCPConn (blocking) until it has one: the subscribe's
// answers.
func (s *psSub) nextMessage() ([]byte, error) {
	for {
		msg, ok, err := s.message()
		if err != nil || ok {
			return msg, err
		}
		s.room()
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// message takes the buffered frames up to the end of the next text
// message and returns it (valid until the next read), queueing pongs in
// s.out on the way; ok is false when no whole message is buffered. A close
// frame or any frame other than text, continuation, ping and pong is an
// error.
func (s *psSub) message() (msg []byte, ok bool, err error) {
	for {
		fin, op, payload, ok, err := s.frame()
		if err != nil || !ok {
			return nil, false, err
		}
		switch {
		case op == ws.OpPing:
			s.out = ws.AppendMaskedFrame(s.out, ws.OpPong, true, s.mask, payload)
		case op == ws.OpPong:
		case op == ws.OpClose:
			code := ws.CloseNoStatus
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			return nil, false, fmt.Errorf("%w: the server closed with %d %q", errSub, code, payload[min(2, len(payload)):])
		case op == ws.OpText && fin && s.frag == nil:
			return payload, true, nil
		case op == ws.OpText && s.frag == nil, op == ws.OpContinuation && s.frag != nil:
			if len(s.frag)+len(payload) > pubsubMaxMessage {
				return nil, false, fmt.Errorf("%w: a message over %d bytes", errSub, pubsubMaxMessage)
			}
			s.frag = append(s.frag, payload...)
			if fin {
				msg := s.frag
				s.frag = nil
				return msg, true, nil
			}
		default:
			return nil, false, fmt.Errorf("%w: frame of opcode %d (fin %v)", errSub, op, fin)
		}
	}
}

// frame takes the next server frame if it is buffered whole; its payload
// is valid until the next read. Server frames are unmasked. When the
// frame is not whole, s.need says how many bytes it takes.
func (s *psSub) frame() (fin bool, op ws.Opcode, payload []byte, ok bool, err error) {
	b := s.buf[s.r:s.w]
	s.need = 2
	if len(b) < 2 {
		return false, 0, nil, false, nil
	}
	if b[1]&0x80 != 0 || b[0]&0x70 != 0 {
		return false, 0, nil, false, fmt.Errorf("%w: header % x", errSub, b[:2])
	}
	fin, op = b[0]&0x80 != 0, ws.Opcode(b[0]&0x0f)
	hlen, n := 2, uint64(b[1]&0x7f)
	switch n {
	case 126:
		hlen = 4
	case 127:
		hlen = 10
	}
	if s.need = hlen; len(b) < hlen {
		return false, 0, nil, false, nil
	}
	switch hlen {
	case 4:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 10:
		n = binary.BigEndian.Uint64(b[2:])
	}
	if n > pubsubMaxMessage {
		return false, 0, nil, false, fmt.Errorf("%w: a frame of %d bytes", errSub, n)
	}
	if s.need = hlen + int(n); len(b) < s.need {
		return false, 0, nil, false, nil
	}
	s.r += s.need
	if s.r == s.w {
		s.r, s.w = 0, 0 // the payload stays in place until the next read
	}
	return fin, op, b[hlen:s.need], true, nil
}

// psMinRead is the least free space a read is given.
const psMinRead = 512

// room makes space for the next read: for the rest of an unfinished frame
// (s.need bytes from s.r), and at least psMinRead bytes, moving what is
// buffered to the front, or into a larger buffer.
func (s *psSub) room() {
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	want := max(s.need, s.w-s.r+psMinRead)
	if len(s.buf)-s.r >= want && len(s.buf)-s.w >= psMinRead {
		return
	}
	if want > len(s.buf) {
		nb := make([]byte, max(want, 2*len(s.buf)))
		s.w = copy(nb, s.buf[s.r:s.w])
		s.buf = nb
	} else {
		s.w = copy(s.buf, s.buf[s.r:s.w])
	}
	s.r = 0
}

// fill reads the net.TCPConn once into the free end of the buffer.
func (s *psSub) fill() error {
	m, err := s.c.Read(s.buf[s.w:])
	s.w += m
	if m > 0 {
		return nil
	}
	return err
}
