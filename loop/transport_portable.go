package loop

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/internal/bufpool"
	"github.com/shoalnet/shoal/internal/poller"
)

// The portable engine runs the same loops over std net. Each connection has
// a reader goroutine, which reads one buffer at a time while the loop wants
// input, and a writer goroutine, which writes what the loop handed it; both
// only move bytes. To the loop a connection looks like a non-blocking
// socket with level-triggered readiness: a read takes what the reader
// holds, a write is taken while the writer is idle (its buffer plays the
// kernel's send buffer), and each loop has an event queue in place of
// epoll. Every callback therefore runs on a loop goroutine, as with the
// event-loop engine.

const (
	// portableReadSize is what a reader goroutine reads at a time.
	portableReadSize = 16 << 10
	// portableWriteMax is the most a write hands to the writer goroutine.
	portableWriteMax = 256 << 10
	// portableCloseLinger bounds how long a closed connection's writer may
	// take to send what it still holds.
	portableCloseLinger = 5 * time.Second
)

// portableNet is the socket layer of the portable engine: a table of the
// open listeners and connections by id. It is safe for concurrent use.
type portableNet struct {
	opts  *Config
	wg    sync.WaitGroup // reader, writer and accept goroutines
	bytes atomic.Int64   // held in read buffers not yet taken and write buffers not yet written

	mu      sync.Mutex // guards the fields below
	ents    []*pent    // by id; nil: free
	free    []int
	linger  map[*pent]struct{} // closed, with a writer still sending
	stopped bool
}

func (n *portableNet) held() int64 { return n.bytes.Load() }

func newPortableNet(o *Config) *portableNet {
	return &portableNet{opts: o, linger: make(map[*pent]struct{})}
}

// pent is a listener or a connection of the portable engine. Its fields
// are guarded by mu; cond (on mu) wakes its goroutines.
type pent struct {
	id   int
	sys  *portableNet
	mu   sync.Mutex
	cond sync.Cond

	poll   *portablePoll // the loop it is registered with; nil before add
	in     poller.Interest
	queued bool // in poll.ready
	closed bool

	// A listener: the accept goroutine holds one accepted connection (or
	// accept error) at a time until the loop takes it.
	ln        net.Listener
	pending   net.Conn
	perr      error
	keepLate  bool          // closeListener: keep a connection Accept returns after the close
	accepting chan struct{} // closed when the accept goroutine has exited

	// A connection.
	nc      net.Conn
	rbuf    []byte // rbuf[roff:] was read and not yet taken by the loop
	roff    int
	rerr    error  // the reader's error (io.EOF at the peer's FIN); it has exited
	wbuf    []byte // handed to the writer and not yet written
	werr    error  // the writer's error; it has exited
	writing bool   // the writer is in a Write
	shut    bool   // shutdownWrite asked for FIN after wbuf
	shutOut bool   // FIN sent
}

// events is what e's state and interest let the loop see. mu is held.
func (e *pent) events() poller.Events {
	var ev poller.Events
	if e.in&poller.InterestRead != 0 &&
		(e.roff < len(e.rbuf) || e.rerr != nil || e.werr != nil || e.pending != nil || e.perr != nil) {
		ev |= poller.Readable
	}
	if e.in&poller.InterestWrite != 0 && (len(e.wbuf) == 0 || e.werr != nil) {
		ev |= poller.Writable
	}
	return ev
}

// notify queues e on its loop's event queue for the next wait. mu is held.
func (e *pent) notify() {
	if e.queued || e.poll == nil || e.closed {
		return
	}
	e.queued = true
	e.poll.post(e)
}

func (n *portableNet) insert(e *pent) int {
	e.sys = n
	e.cond.L = &e.mu
	n.mu.Lock()
	defer n.mu.Unlock()
	if k := len(n.free); k > 0 {
		e.id = n.free[k-1]
		n.free = n.free[:k-1]
		n.ents[e.id] = e
	} else {
		e.id = len(n.ents)
		n.ents = append(n.ents, e)
	}
	return e.id
}

func (n *portableNet) get(id int) *pent {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id < 0 || id >= len(n.ents) {
		return nil
	}
	return n.ents[id]
}

func (n *portableNet) remove(e *pent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.id < len(n.ents) && n.ents[e.id] == e {
		n.ents[e.id] = nil
		n.free = append(n.free, e.id)
	}
}

func (n *portableNet) transport(int) (transport, error) {
	return &portableTransport{net: n, poll: newPortablePoll()}, nil
}

// adopt starts an accept goroutine for each of lns; listener i goes to
// loop i%loops, which takes its connections and spreads them over all
// loops.
func (n *portableNet) adopt(lns []net.Listener, loops int) ([]*listener, error) {
	var out []*listener
	for i, ln := range lns {
		e := &pent{ln: ln, accepting: make(chan struct{})}
		id := n.insert(e)
		n.mu.Lock()
		if n.stopped {
			n.mu.Unlock()
			n.remove(e)
			for _, ln := range lns[i:] {
				ln.Close()
			}
			for _, l := range out {
				n.get(l.fd).shutdown(true)
			}
			return nil, ErrStopped
		}
		n.wg.Add(1)
		n.mu.Unlock()
		go e.acceptLoop()
		local := ln.Addr()
		if ta, ok := local.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			local = nil
		}
		_, tcp := ln.Addr().(*net.TCPAddr)
		out = append(out, &listener{fd: id, tcp: tcp, local: local, spread: loops > 1})
	}
	return out, nil
}

// stop closes every listener and connection left and waits for their
// goroutines.
func (n *portableNet) stop() {
	n.mu.Lock()
	n.stopped = true
	ents := append([]*pent(nil), n.ents...)
	for e := range n.linger {
		ents = append(ents, e)
	}
	n.mu.Unlock()
	for _, e := range ents {
		if e != nil {
			e.shutdown(true)
		}
	}
	n.wg.Wait()
}

// shutdown closes e. Unless force is set, a writer still holding output
// sends it first (bounded by portableCloseLinger), as the kernel does after
// close.
func (e *pent) shutdown(force bool) {
	e.mu.Lock()
	e.closed = true
	if k := len(e.rbuf) - e.roff; k > 0 { // read and never taken
		e.sys.bytes.Add(-int64(k))
		e.roff = len(e.rbuf)
	}
	e.cond.Broadcast()
	switch {
	case e.ln != nil:
		e.ln.Close()
		if e.pending != nil && !e.keepLate {
			e.pending.Close()
			e.pending = nil
		}
	case (e.writing || len(e.wbuf) > 0) && e.werr == nil && !force:
		// The writer sends what it holds, then closes nc.
		e.nc.SetWriteDeadline(time.Now().Add(portableCloseLinger))
		e.sys.mu.Lock()
		e.sys.linger[e] = struct{}{}
		e.sys.mu.Unlock()
	default:
		e.nc.Close()
	}
	e.mu.Unlock()
	e.sys.remove(e)
}

func (e *pent) acceptLoop() {
	defer e.sys.wg.Done()
	defer close(e.accepting)
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !e.closed && (e.in&poller.InterestRead == 0 || e.pending != nil || e.perr != nil) {
			e.cond.Wait()
		}
		if e.closed {
			return
		}
		e.mu.Unlock()
		nc, err := e.ln.Accept()
		e.mu.Lock()
		if e.closed {
			switch {
			case nc != nil && e.keepLate && e.pending == nil:
				e.pending = nc // closeListener hands it to the loop
			case nc != nil:
				nc.Close()
			}
			return
		}
		e.pending, e.perr = nc, err
		e.notify()
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (e *pent) readLoop() {
	defer e.sys.wg.Done()
	buf := make([]byte, portableReadSize)
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !e.closed && (e.in&poller.InterestRead == 0 || e.roff < len(e.rbuf)) {
			e.cond.Wait()
		}
		if e.closed {
			return
		}
		e.mu.Unlock()
		n, err := e.nc.Read(buf)
		e.mu.Lock()
		e.rbuf, e.roff = buf[:n], 0
		e.sys.bytes.Add(int64(n))
		if err != nil {
			e.rerr = err
		}
		e.notify()
		if err != nil {
			return
		}
	}
}

func (e *pent) writeLoop() {
	defer e.sys.wg.Done()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !e.closed && len(e.wbuf) == 0 && (!e.shut || e.shutOut) {
			e.cond.Wait()
		}
		switch {
		case len(e.wbuf) > 0:
			b := e.wbuf
			e.writing = true
			e.mu.Unlock()
			_, err := e.nc.Write(b)
			e.mu.Lock()
			e.writing = false
			e.sys.bytes.Add(-int64(len(e.wbuf)))
			bufpool.Put(e.wbuf)
			e.wbuf = nil
			if err != nil {
				e.werr = err
				if e.closed {
					e.nc.Close()
					e.sys.mu.Lock()
					delete(e.sys.linger, e)
					e.sys.mu.Unlock()
				}
				e.notify()
				return
			}
			e.notify()
		case e.shut && !e.shutOut && !e.closed:
			e.shutOut = true
			if cw, ok := e.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		default: // closed, nothing left to write
			e.nc.Close()
			e.sys.mu.Lock()
			delete(e.sys.linger, e)
			e.sys.mu.Unlock()
			return
		}
	}
}

// portablePoll is a loop's event queue: the ids whose readiness may have
// changed, evaluated level-triggered when the loop waits.
type portablePoll struct {
	mu     sync.Mutex // guards ready, spare and woken
	ready  []*pent
	spare  []*pent
	woken  bool
	sig    chan struct{} // capacity 1: something was posted
	timer  *time.Timer
	events []portableEvent
}

type portableEvent struct {
	fd int
	ev poller.Events
}

func newPortablePoll() *portablePoll {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &portablePoll{sig: make(chan struct{}, 1), timer: t}
}

func (p *portablePoll) post(e *pent) {
	p.mu.Lock()
	p.ready = append(p.ready, e)
	p.mu.Unlock()
	p.signal()
}

func (p *portablePoll) signal() {
	select {
	case p.sig <- struct{}{}:
	default:
	}
}

// wait collects the events of the ready ids, blocking up to msec (-1:
// forever) while there are none.
func (p *portablePoll) wait(msec int) int {
	for {
		p.mu.Lock()
		batch, woken := p.ready, p.woken
		p.ready, p.woken = p.spare[:0], false
		p.mu.Unlock()
		p.events = p.events[:0]
		if woken {
			p.events = append(p.events, portableEvent{fd: poller.WakeFD})
		}
		for i, e := range batch {
			e.mu.Lock()
			e.queued = false
			if !e.closed && e.poll == p {
				if ev := e.events(); ev != 0 {
					p.events = append(p.events, portableEvent{fd: e.id, ev: ev})
				}
			}
			e.mu.Unlock()
			batch[i] = nil
		}
		p.spare = batch[:0]
		if len(p.events) > 0 || msec == 0 {
			return len(p.events)
		}
		if msec < 0 {
			<-p.sig
			continue
		}
		p.timer.Reset(time.Duration(msec) * time.Millisecond)
		select {
		case <-p.sig:
			p.timer.Stop()
		case <-p.timer.C:
			return 0
		}
	}
}

// portableTransport is one loop's side of the portable engine.
type portableTransport struct {
	net  *portableNet
	poll *portablePoll
}

func (t *portableTransport) run(first int, round func(int) (int, bool)) error {
	next := first
	for {
		var stop bool
		if next, stop = round(t.poll.wait(next)); stop {
			return nil
		}
	}
}

func (t *portableTransport) event(i int) (int, poller.Events) {
	e := t.poll.events[i]
	return e.fd, e.ev
}

func (t *portableTransport) wake() error {
	p := t.poll
	p.mu.Lock()
	was := p.woken
	p.woken = true
	p.mu.Unlock()
	if !was {
		p.signal()
	}
	return nil
}

func (t *portableTransport) closePoller() error { return nil }

func (t *portableTransport) add(fd int, in poller.Interest) error {
	e := t.net.get(fd)
	if e == nil {
		return ErrClosed
	}
	e.mu.Lock()
	e.poll = t.poll
	e.mu.Unlock()
	return t.mod(fd, in)
}

func (t *portableTransport) mod(fd int, in poller.Interest) error {
	e := t.net.get(fd)
	if e == nil {
		return ErrClosed
	}
	e.mu.Lock()
	if e.in != in {
		e.in = in
		e.cond.Broadcast()
		e.notify()
	}
	e.mu.Unlock()
	return nil
}

func (t *portableTransport) file(lfd int) (*os.File, error) {
	l := t.net.get(lfd)
	if l == nil {
		return nil, ErrClosed
	}
	f, ok := l.ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("%w: %T has no file", ErrUnsupportedListener, l.ln)
	}
	return f.File()
}

func (t *portableTransport) accept(lfd int) (int, any, error) {
	l := t.net.get(lfd)
	if l == nil {
		return -1, nil, errAgain
	}
	l.mu.Lock()
	nc, err := l.pending, l.perr
	l.pending, l.perr = nil, nil
	l.cond.Broadcast()
	l.mu.Unlock()
	switch {
	case err != nil:
		return -1, nil, err
	case nc == nil:
		return -1, nil, errAgain
	}
	id := t.net.open(nc)
	if id < 0 {
		return -1, nil, errAgain
	}
	return id, nc, nil
}

// closeListener closes the listener, waits for its accept goroutine (its
// Accept returns at once) and returns the connection that goroutine had
// accepted and not handed over yet, if any.
func (t *portableTransport) closeListener(lfd int) (int, any) {
	l := t.net.get(lfd)
	if l == nil {
		return -1, nil
	}
	l.mu.Lock()
	l.keepLate = true
	l.mu.Unlock()
	l.shutdown(false)
	<-l.accepting
	l.mu.Lock()
	nc := l.pending
	l.pending = nil
	l.mu.Unlock()
	if nc == nil {
		return -1, nil
	}
	id := t.net.open(nc)
	if id < 0 {
		return -1, nil
	}
	return id, nc
}

// open enters an accepted connection and starts its reader and writer;
// -1 when the socket layer has stopped (nc is closed then).
func (n *portableNet) open(nc net.Conn) int {
	c := &pent{nc: nc}
	id := n.insert(c)
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		n.remove(c)
		nc.Close()
		return -1
	}
	n.wg.Add(2)
	n.mu.Unlock()
	go c.readLoop()
	go c.writeLoop()
	return id
}

func (t *portableTransport) configure(fd int, tcp bool) error {
	e := t.net.get(fd)
	if e == nil {
		return ErrClosed
	}
	tc, ok := e.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	o := t.net.opts
	if err := tc.SetNoDelay(o.NoDelay); err != nil {
		return err
	}
	if o.KeepAlive != 0 {
		if err := tc.SetKeepAlive(o.KeepAlive > 0); err != nil {
			return err
		}
		if o.KeepAlive > 0 {
			if err := tc.SetKeepAlivePeriod(o.KeepAlive); err != nil {
				return err
			}
		}
	}
	if o.SendBuffer > 0 {
		if err := tc.SetWriteBuffer(o.SendBuffer); err != nil {
			return err
		}
	}
	if o.RecvBuffer > 0 {
		if err := tc.SetReadBuffer(o.RecvBuffer); err != nil {
			return err
		}
	}
	return nil
}

func (t *portableTransport) read(fd int, p []byte) (int, error) {
	e := t.net.get(fd)
	if e == nil {
		return 0, ErrClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.roff < len(e.rbuf) {
		n := copy(p, e.rbuf[e.roff:])
		e.roff += n
		t.net.bytes.Add(-int64(n))
		if e.roff == len(e.rbuf) {
			e.cond.Broadcast() // the reader may read on
		} else {
			e.notify() // level-triggered: more is there
		}
		return n, nil
	}
	switch {
	case e.rerr == io.EOF:
		return 0, nil
	case e.rerr != nil:
		return 0, e.rerr
	case e.werr != nil:
		return 0, e.werr
	}
	return 0, errAgain
}

func (t *portableTransport) writev(fd int, bufs [][]byte) (int, error) {
	e := t.net.get(fd)
	if e == nil {
		return 0, ErrClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.werr != nil:
		return 0, e.werr
	case len(e.wbuf) > 0:
		return 0, errAgain
	}
	want := 0
	for _, b := range bufs {
		want += len(b)
	}
	want = min(want, portableWriteMax)
	if want == 0 {
		return 0, nil
	}
	e.wbuf = bufpool.Get(want)
	for _, b := range bufs {
		k := min(len(b), want-len(e.wbuf))
		e.wbuf = append(e.wbuf, b[:k]...)
		if len(e.wbuf) == want {
			break
		}
	}
	t.net.bytes.Add(int64(want))
	e.cond.Broadcast()
	return want, nil
}

func (t *portableTransport) shutdownWrite(fd int) {
	if e := t.net.get(fd); e != nil {
		e.mu.Lock()
		e.shut = true
		e.cond.Broadcast()
		e.mu.Unlock()
	}
}

func (t *portableTransport) close(fd int) {
	if e := t.net.get(fd); e != nil {
		e.shutdown(false)
	}
}

func (t *portableTransport) sockErr(fd int) error {
	e := t.net.get(fd)
	if e == nil {
		return ErrClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.werr != nil {
		return e.werr
	}
	if e.rerr != io.EOF {
		return e.rerr
	}
	return nil
}

func (t *portableTransport) localAddr(fd int) net.Addr {
	if e := t.net.get(fd); e != nil && e.nc != nil {
		return e.nc.LocalAddr()
	}
	return nil
}

func (t *portableTransport) remoteAddr(peer any) net.Addr { return peer.(net.Conn).RemoteAddr() }
func (t *portableTransport) peerIP(peer any) netip.Addr {
	nc, _ := peer.(net.Conn)
	if nc == nil {
		return netip.Addr{}
	}
	return addrIP(nc.RemoteAddr())
}

// temporary: every accept error but a closed listener is retried after
// the accept back-off, as net/http's Serve does.
func (t *portableTransport) temporary(err error) bool { return !errors.Is(err, net.ErrClosed) }
