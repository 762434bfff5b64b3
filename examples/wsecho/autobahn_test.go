package main

// The Autobahn|Testsuite "fuzzingclient" cases of sections 1 to 7, 9 and 10,
// replayed against the binary over raw TCP and judged as the suite judges
// them. The case table is in autobahn_cases_test.go; this file is the
// fuzzer: it writes the cases' masked frames (with their splits: frames
// queued in one write, written alone, or chopped into writes of a few
// bytes), reads the server's frames, plays the client's side of the close
// handshake, and gives each case Autobahn's two verdicts:
//
//   - behaviour: the events the fuzzer received (messages, pings, pongs,
//     and the "timeouts" of the fail-fast cases) must equal, in order, the
//     ones the case expects for OK or, where the case allows it,
//     NON-STRICT; otherwise FAILED.
//   - close: the right endpoint started the closing handshake (the fuzzer,
//     or the server when it must fail the connection), it was clean where
//     the case requires it, the server's close code is one the case
//     accepts, and the server dropped TCP after the handshake, not the
//     fuzzer: OK, or FAILED, UNCLEAN, WRONG CODE, FAILED BY CLIENT.
//
// Autobahn's timers (1 s to wait for a server's failure, 1 s for the server
// to drop TCP) are stretched here: the server is not judged on its speed,
// and a correct one never lets them expire. Only the pauses the cases make
// on purpose (6.4.x, 5.19, 5.20) are kept at Autobahn's 1 s.
//
//	go test -run Autobahn ./examples/wsecho                       # all 301 cases
//	go test -run Autobahn ./examples/wsecho -v -args -autobahn.case '^6\.4\.' -autobahn.v

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
	"github.com/shoalnet/shoal/ws"
)

var (
	abFilter  = flag.String("autobahn.case", "", "run only the Autobahn cases whose id matches this regular expression")
	abVerbose = flag.Bool("autobahn.v", false, "log every Autobahn case's verdict, not only those that are not OK")
)

// Timers of the fuzzer.
const (
	// abPatience is how long the fuzzer waits, after a case's last frame,
	// for the events it expects before it closes (Autobahn's closeAfter)
	// or fails the connection (killAfter). Autobahn waits 0.5 to 10 s.
	abPatience = 10 * time.Second
	// abPatienceBig is the same for the cases of section 9.
	abPatienceBig = 30 * time.Second
	// abCloseWait bounds the wait for the server's close frame after the
	// fuzzer's, and for the server to drop TCP after the closing handshake
	// (Autobahn: 1 s each). It stays below the server's own 5 s close
	// timeout, so that a server waiting on that is seen.
	abCloseWait = 3 * time.Second
	// abHardLimit is the deadline of a case's TCP connection: nothing
	// blocks past it.
	abHardLimit = 60 * time.Second
	// abParallel cases run at once, and abParallelBig of those of
	// section 9 (each holds several copies of a message up to 16 MiB).
	abParallel    = 12
	abParallelBig = 3
)

// verdict is one of Autobahn's verdicts.
type verdict string

const (
	vOK             verdict = "OK"
	vNonStrict      verdict = "NON-STRICT"
	vInformational  verdict = "INFORMATIONAL"
	vUnclean        verdict = "UNCLEAN"
	vWrongCode      verdict = "WRONG CODE"
	vFailedByClient verdict = "FAILED BY CLIENT"
	vFailed         verdict = "FAILED"
)

// failing reports whether v fails the test.
func (v verdict) failing() bool {
	switch v {
	case vOK, vNonStrict, vInformational:
		return false
	}
	return true
}

// event is what the fuzzer records, as Autobahn does: a message, a ping, a
// pong (their payloads), or a timeout of a case's own (its tag).
type event struct {
	kind string // "message", "ping", "pong", "timeout"
	op   ws.Opcode
	data []byte
}

func evText(s string) event    { return event{kind: "message", op: ws.OpText, data: []byte(s)} }
func evBinary(b []byte) event  { return event{kind: "message", op: ws.OpBinary, data: b} }
func evPong(s string) event    { return event{kind: "pong", data: []byte(s)} }
func evTimeout(t string) event { return event{kind: "timeout", data: []byte(t)} }

func (e event) equal(o event) bool {
	return e.kind == o.kind && e.op == o.op && bytes.Equal(e.data, o.data)
}

func (e event) String() string {
	switch e.kind {
	case "timeout":
		return "timeout " + string(e.data)
	case "message":
		return fmt.Sprintf("%v message %s", e.op, show(e.data))
	}
	return e.kind + " " + show(e.data)
}

// show prints a payload briefly: its length, and its start quoted.
func show(p []byte) string {
	if len(p) <= 40 {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%d bytes %q...", len(p), p[:24])
}

func showEvents(evs []event) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.String())
	}
	b.WriteByte(']')
	return b.String()
}

func eventsEqual(a, b []event) bool { return slices.EqualFunc(a, b, event.equal) }

// closeExpect is how a case's connection must close (Autobahn's
// expectedClose).
type closeExpect struct {
	byFuzzer bool  // the fuzzer starts the closing handshake (closedByMe)
	codes    []int // the server's close codes accepted (or a close without one)
	clean    bool  // the closing handshake must complete (requireClean)
	// wrongEndpointFatal: the wrong endpoint closing fails the behaviour
	// too (the server did not see the invalid UTF-8).
	wrongEndpointFatal bool
}

// abCase is one Autobahn case.
type abCase struct {
	id, desc string
	// script sends the case's frames, on the case's goroutine (the writes
	// go out when it returns or waits).
	script func(s *session)
	// expected holds the events of each acceptable outcome, OK and maybe
	// NON-STRICT (Autobahn's expected).
	expected map[verdict][]event
	close    closeExpect
	// suppressClose: the fuzzer does not close once the expected events
	// came (the script closes by itself).
	suppressClose bool
	// closeAfter: when the events do not come, the fuzzer closes (1000)
	// rather than failing the connection (1001).
	closeAfter bool
	// informational: the spec leaves the outcome open (7.1.6, 7.13.x).
	informational bool
	// onMessage replaces the recording of messages (section 9: the case
	// judges each echo and sets s.behavior).
	onMessage func(s *session, op ws.Opcode, p []byte)
	// judge, if set, adjusts the verdicts at the end (Autobahn's
	// onConnectionLost overrides).
	judge func(s *session, behavior *verdict, result *string)
	// supplementary: not one of the suite's cases (not counted as one).
	supplementary bool
	big           bool // section 9: longer patience, fewer at once
	cost          int  // a scheduling hint: higher starts first
}

// session is the fuzzer's side of one case's connection.
type session struct {
	c  *abCase
	nc net.Conn

	out      []byte // frames queued for the next write
	writeErr error
	tx       map[ws.Opcode]int // frames sent, by opcode

	mu     sync.Mutex
	queue  []rx // from the reader goroutine
	notify chan struct{}

	received []event

	// The protocol state, as Autobahn's.
	sentClose, gotClose bool
	closedByMe          bool
	wasClean            bool
	droppedByMe         bool
	lost                bool // the TCP connection is gone
	remoteCode          int
	remoteHasCode       bool
	remoteReason        []byte
	violation           string // the server broke the protocol

	timer    time.Time // the closing handshake's timeout (reply, or drop)
	timerWhy string
	patience time.Time // the end of the wait for the case's events

	notes []string

	// For the cases with onMessage.
	behavior verdict
	result   string
	want     []byte
	count    int
}

// rx is what the reader goroutine hands to the session.
type rx struct {
	ev        event
	close     bool
	code      int
	hasCode   bool
	reason    []byte
	err       error  // TCP ended
	violation string // an invalid frame from the server
}

func (s *session) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// open reports whether neither side has started closing.
func (s *session) open() bool { return !s.sentClose && !s.gotClose && !s.lost }

// fr is one frame a script sends, as Autobahn's sendFrame takes it.
type fr struct {
	op   ws.Opcode
	p    []byte
	more bool // FIN clear: more fragments follow
	rsv  byte // the reserved bits as Autobahn numbers them (4 = RSV1)
	chop int  // written in pieces of this many bytes, each a write of its own
	sync bool // written alone, not with the frames queued before it
}

func (s *session) appendFrame(dst []byte, f fr) []byte {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], mrand.Uint32())
	dst = ws.AppendHeader(dst, ws.Header{Fin: !f.more, RSV: f.rsv, Op: f.op, Masked: true, Mask: m, Length: uint64(len(f.p))})
	start := len(dst)
	dst = append(dst, f.p...)
	ws.Mask(m, 0, dst[start:])
	s.tx[f.op]++
	return dst
}

// send sends frames as Autobahn does: queued together for one write,
// unless a frame is sync or chopped.
func (s *session) send(frames ...fr) {
	for _, f := range frames {
		if f.chop == 0 && !f.sync {
			s.out = s.appendFrame(s.out, f)
			continue
		}
		s.flush()
		b := s.appendFrame(nil, f)
		if f.chop == 0 {
			s.write(b)
			continue
		}
		for len(b) > 0 {
			n := min(f.chop, len(b))
			s.write(b[:n])
			b = b[n:]
		}
	}
}

// message sends a message as Autobahn's sendMessage: one frame, or frames
// of fragSize bytes when it is longer (a length that is a multiple of
// fragSize ends with an empty final frame, as Autobahn's does).
func (s *session) message(op ws.Opcode, p []byte, fragSize int) {
	if fragSize <= 0 || len(p) <= fragSize {
		s.send(fr{op: op, p: p})
		return
	}
	for i, first := 0, true; ; i += fragSize {
		j, done := i+fragSize, false
		if j > len(p) {
			j, done = len(p), true
		}
		f := fr{op: ws.OpContinuation, p: p[i:j], more: !done}
		if first {
			f.op, first = op, false
		}
		s.send(f)
		if done {
			return
		}
	}
}

// closeFrame starts the closing handshake with a close frame of payload p
// (Autobahn's sendCloseFrame: p need not be valid).
func (s *session) closeFrame(p []byte) {
	if !s.open() {
		return
	}
	s.out = s.appendFrame(s.out, fr{op: ws.OpClose, p: p})
	s.sentClose, s.closedByMe = true, true
	s.setTimer(abCloseWait, "the server sent no close frame within %v of the fuzzer's")
}

// closeWith starts the closing handshake with code and reason.
func (s *session) closeWith(code int, reason string) { s.closeFrame(closePayload(code, reason)) }

// closePayload is a close frame's payload: a code (none if negative) and
// the reason's bytes.
func closePayload(code int, reason string) []byte {
	var p []byte
	if code >= 0 {
		p = binary.BigEndian.AppendUint16(p, uint16(code))
	}
	return append(p, reason...)
}

func (s *session) setTimer(d time.Duration, why string) {
	s.timer, s.timerWhy = time.Now().Add(d), fmt.Sprintf(why, d)
}

func (s *session) flush() {
	if len(s.out) > 0 {
		s.write(s.out)
		s.out = s.out[:0]
	}
}

func (s *session) write(b []byte) {
	if s.writeErr != nil || s.lost {
		return
	}
	if _, err := s.nc.Write(b); err != nil { // the server may have gone: Autobahn ignores it too
		s.writeErr = err
		s.note("write: %v", err)
	}
}

// later waits d while the connection stays open (Autobahn's
// continueLater), handling what arrives, and reports whether it is still
// open.
func (s *session) later(d time.Duration) bool {
	s.pump(time.Now().Add(d), func() bool { return !s.open() })
	return s.open()
}

// drop closes TCP from the fuzzer's side.
func (s *session) drop(why string) {
	if s.lost {
		return
	}
	s.note("%s", why)
	s.droppedByMe, s.wasClean, s.lost = true, false, true
	s.nc.Close()
}

// pump writes what is queued and handles what arrives until until (zero:
// no limit), stop reports true, or the connection is gone; the timers
// fire on the way.
func (s *session) pump(until time.Time, stop func() bool) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.flush()
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, x := range q {
			s.handle(x)
		}
		s.flush()
		if s.lost || (stop != nil && stop()) {
			return
		}
		now := time.Now()
		if !s.timer.IsZero() && !now.Before(s.timer) {
			s.drop(s.timerWhy)
			return
		}
		if !s.patience.IsZero() && !now.Before(s.patience) {
			s.patience = time.Time{}
			s.timeUp()
			continue
		}
		if !until.IsZero() && !now.Before(until) {
			return
		}
		next := until
		for _, d := range []time.Time{s.timer, s.patience} {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
		if next.IsZero() {
			next = now.Add(time.Hour)
		}
		t.Reset(time.Until(next))
		select {
		case <-s.notify:
		case <-t.C:
		}
	}
}

// timeUp: the events the case expects did not all come in time.
func (s *session) timeUp() {
	if !s.open() {
		return
	}
	if s.c.closeAfter {
		s.note("after %v the fuzzer closes", s.patienceOf())
		s.closeWith(ws.CloseNormal, "")
		return
	}
	s.note("the server did not close within %v: the fuzzer fails the connection", s.patienceOf())
	s.closeWith(ws.CloseGoingAway, "going away")
}

func (s *session) patienceOf() time.Duration {
	if s.c.big {
		return abPatienceBig
	}
	return abPatience
}

// handle takes one thing from the reader.
func (s *session) handle(x rx) {
	if s.lost {
		return
	}
	switch {
	case x.violation != "":
		s.violation = x.violation
		s.drop("the fuzzer drops TCP after the server's invalid frame")
	case x.err != nil:
		s.lost = true
		if !s.gotClose {
			s.wasClean = false
			s.note("the server dropped TCP without a closing handshake (%v)", x.err)
		}
	case x.close:
		s.gotClose = true
		s.remoteCode, s.remoteHasCode, s.remoteReason = x.code, x.hasCode, x.reason
		if !s.sentClose { // the server closes: answer (Autobahn answers 1000)
			s.sentClose = true
			s.out = s.appendFrame(s.out, fr{op: ws.OpClose, p: closePayload(ws.CloseNormal, "")})
		}
		s.wasClean = true
		s.setTimer(abCloseWait, "the server did not drop TCP within %v of the closing handshake")
	case x.ev.kind == "message" && s.c.onMessage != nil:
		s.c.onMessage(s, x.ev.op, x.ev.data)
	default:
		s.received = append(s.received, x.ev)
		if x.ev.kind == "ping" && s.open() {
			s.out = s.appendFrame(s.out, fr{op: ws.OpPong, p: x.ev.data})
		}
		s.finishWhenDone()
	}
}

// finishWhenDone closes once the events match what every outcome expects
// (Autobahn's rule, which in effect applies to the cases with one).
func (s *session) finishWhenDone() {
	for _, exp := range s.c.expected {
		if !eventsEqual(s.received, exp) {
			return
		}
	}
	if s.c.close.byFuzzer && !s.c.suppressClose {
		s.closeWith(s.c.close.codes[0], "")
	}
}

func (s *session) push(x rx) {
	s.mu.Lock()
	s.queue = append(s.queue, x)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// readLoop reads the server's frames and hands messages (reassembled),
// pings, pongs, the close frame and the end of TCP to the session. The
// server's frames are checked as a client checks them.
func (s *session) readLoop(r io.Reader) {
	rd := ws.FrameReader{FromServer: true, MaxFrame: 1 << 30, MaxMessage: 1 << 30}
	var (
		store      = make([]byte, 64<<10)
		start, end int // the input not yet taken: store[start:end]
		msg        []byte
		msgOp      ws.Opcode
		closed     bool
	)
	for {
		f, n, err := rd.Next(store[start:end])
		if err != nil {
			s.push(rx{violation: "the server sent an invalid frame: " + err.Error()})
			return
		}
		if n == 0 {
			if len(store)-end < 16<<10 { // move the input to the front, of a larger store if need be
				live := store[start:end]
				if len(live)+32<<10 > len(store) {
					store = make([]byte, 2*len(live)+64<<10)
				}
				start, end = 0, copy(store, live)
			}
			k, err := r.Read(store[end:])
			end += k
			if err != nil && k == 0 {
				s.push(rx{err: err})
				return
			}
			continue
		}
		if closed {
			s.push(rx{violation: fmt.Sprintf("the server sent a %v frame after its close frame", f.Op)})
			return
		}
		p := bytes.Clone(f.Payload)
		switch f.Op {
		case ws.OpPing:
			s.push(rx{ev: event{kind: "ping", data: p}})
		case ws.OpPong:
			s.push(rx{ev: event{kind: "pong", data: p}})
		case ws.OpClose:
			code, reason := f.CloseCode()
			s.push(rx{close: true, code: code, hasCode: len(f.Payload) >= 2, reason: bytes.Clone(reason)})
			closed = true
		default:
			if f.Op != ws.OpContinuation {
				msgOp, msg = f.Op, nil
			}
			if msg == nil && f.Fin {
				msg = p // a message of one frame
			} else {
				msg = append(msg, f.Payload...)
			}
			if f.Fin {
				s.push(rx{ev: event{kind: "message", op: msgOp, data: msg}})
				msg = nil
			}
		}
		if start += n; start == end {
			start, end = 0, 0
		}
	}
}

// result is a case's outcome.
type result struct {
	c                *abCase
	verdict          verdict
	behavior, closeV verdict
	reason           string
	took             time.Duration
}

// runCase runs c on a connection of its own to addr.
func runCase(addr string, c *abCase) result {
	start := time.Now()
	s := &session{c: c, tx: map[ws.Opcode]int{}, notify: make(chan struct{}, 1), behavior: vFailed}
	nc, br, err := handshake(addr)
	if err != nil {
		return result{c: c, verdict: vFailed, behavior: vFailed, closeV: vFailed, reason: "the opening handshake failed: " + err.Error(), took: time.Since(start)}
	}
	s.nc = nc
	nc.SetDeadline(start.Add(abHardLimit))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.readLoop(br)
	}()
	c.script(s)
	s.patience = time.Now().Add(s.patienceOf())
	s.pump(time.Time{}, nil)
	nc.Close()
	<-done
	r := s.judge()
	r.took = time.Since(start)
	return r
}

// handshake dials addr and upgrades the connection.
func handshake(addr string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	fmt.Fprintf(nc, "GET /autobahn HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, key)
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		nc.Close()
		return nil, nil, fmt.Errorf("answered %s", resp.Status)
	}
	return nc, br, nil
}

// judge gives the verdicts as Autobahn's Case.onConnectionLost does.
func (s *session) judge() result {
	c := s.c
	behavior, resText := vFailed, "the events differ from every expected outcome"
	if c.onMessage != nil {
		behavior, resText = s.behavior, s.result
	} else {
		for _, v := range []verdict{vOK, vNonStrict} {
			if exp, ok := c.expected[v]; ok && eventsEqual(s.received, exp) {
				behavior, resText = v, "the events match the "+string(v)+" outcome"
				break
			}
		}
	}
	closeV, closeText := vOK, "closed properly"
	switch {
	case c.close.byFuzzer != s.closedByMe:
		closeV, closeText = vFailed, "the connection was closed by the wrong endpoint"
	case c.close.clean && !s.wasClean:
		closeV, closeText = vUnclean, "the closing handshake must complete cleanly here"
	case s.remoteHasCode && !slices.Contains(c.close.codes, s.remoteCode):
		closeV, closeText = vWrongCode, fmt.Sprintf("the close code should have been %v or none", c.close.codes)
	case s.droppedByMe:
		closeV, closeText = vFailedByClient, "the server should close TCP, not the fuzzer"
	}
	if c.close.wrongEndpointFatal && c.close.byFuzzer != s.closedByMe {
		behavior = vFailed
	}
	if s.violation != "" {
		behavior, resText = vFailed, s.violation
	}
	if c.judge != nil {
		c.judge(s, &behavior, &resText)
	}
	v := behavior
	switch {
	case c.informational:
		v = vInformational
	case behavior == vFailed:
	case closeV != vOK:
		v = closeV
	}

	var why strings.Builder
	if c.informational {
		fmt.Fprintf(&why, "events: %s", resText)
	} else {
		fmt.Fprintf(&why, "behaviour %s: %s", behavior, resText)
	}
	if c.onMessage == nil {
		fmt.Fprintf(&why, "; received %s", showEvents(s.received))
		if behavior != vOK && !c.informational {
			fmt.Fprintf(&why, ", OK expects %s", showEvents(c.expected[vOK]))
		}
	}
	fmt.Fprintf(&why, "; close %s: %s (", closeV, closeText)
	switch {
	case !s.gotClose:
		why.WriteString("no close frame from the server")
	case s.remoteHasCode:
		fmt.Fprintf(&why, "the server's close code %d", s.remoteCode)
		if len(s.remoteReason) > 0 {
			fmt.Fprintf(&why, " %q", s.remoteReason)
		}
	default:
		why.WriteString("the server's close frame had no code")
	}
	if s.closedByMe {
		why.WriteString(", the fuzzer closed first")
	} else {
		why.WriteString(", the server closed first")
	}
	why.WriteString(")")
	for _, n := range s.notes {
		why.WriteString("; " + n)
	}
	return result{c: c, verdict: v, behavior: behavior, closeV: closeV, reason: why.String()}
}

// TestAutobahn runs the Autobahn cases against the binary, each on its own
// connection, several at once. Any FAILED, UNCLEAN, WRONG CODE or FAILED
// BY CLIENT fails the test; the NON-STRICT and INFORMATIONAL cases are
// logged with their reasons, and a summary counts the verdicts.
func TestAutobahn(t *testing.T) {
	cases := autobahnCases()
	if *abFilter != "" {
		re, err := regexp.Compile(*abFilter)
		if err != nil {
			t.Fatal(err)
		}
		cases = slices.DeleteFunc(cases, func(c *abCase) bool { return !re.MatchString(c.id) })
	}
	if len(cases) == 0 {
		t.Skip("no Autobahn case matches -autobahn.case")
	}
	p := proctest.Start(t, proctest.Build(t, "."), []string{"wsecho listening"}, "-addr", "127.0.0.1:0", "-admin", "")
	addr := p.Addrs["wsecho listening"]

	start := time.Now()
	results := make([]result, len(cases))
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cases[b].cost - cases[a].cost })
	var (
		wg  sync.WaitGroup
		all = make(chan struct{}, abParallel)
		big = make(chan struct{}, abParallelBig)
	)
	for _, i := range order {
		c := cases[i]
		if c.big {
			big <- struct{}{}
		}
		all <- struct{}{}
		wg.Go(func() {
			results[i] = runCase(addr, c)
			<-all
			if c.big {
				<-big
			}
		})
	}
	wg.Wait()
	took := time.Since(start)

	counts := map[verdict]int{}
	var nonStrict []string
	for _, r := range results {
		counts[r.verdict]++
		line := fmt.Sprintf("%s %s (%v): %s\n\t%s", r.c.id, r.verdict, r.took.Round(time.Millisecond), r.c.desc, r.reason)
		switch {
		case r.verdict.failing():
			t.Error(line)
		case r.verdict == vNonStrict:
			nonStrict = append(nonStrict, line)
		case r.verdict == vInformational || *abVerbose:
			t.Log(line)
		}
	}
	for _, l := range nonStrict {
		t.Log(l)
	}
	var sum []string
	for _, v := range []verdict{vOK, vNonStrict, vInformational, vUnclean, vWrongCode, vFailedByClient, vFailed} {
		if counts[v] > 0 {
			sum = append(sum, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	extra := 0
	for _, c := range cases {
		if c.supplementary {
			extra++
		}
	}
	t.Logf("Autobahn: %d cases (%d of the suite, %d supplementary) in %v: %s", len(results), len(results)-extra, extra, took.Round(time.Millisecond), strings.Join(sum, ", "))

	// The server is still up, and still echoes.
	cl, err := ws.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("after the cases: %v; logs:\n%s", err, p.Logs.String())
	}
	defer cl.NetConn().Close()
	cl.NetConn().SetDeadline(time.Now().Add(10 * time.Second))
	if err := cl.WriteMessage(ws.OpText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if op, got, err := cl.ReadMessage(); err != nil || op != ws.OpText || string(got) != "still here" {
		t.Fatalf("after the cases: %v %q %v; logs:\n%s", op, got, err, p.Logs.String())
	}
	cl.Close(ws.CloseNormal)
}
