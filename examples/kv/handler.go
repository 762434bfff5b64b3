package main

import (
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/server"
)

// kv is the server's handler: the keyspace and the statistics INFO shows.
// Its callbacks run on the loops of the connections; everything shared
// between connections is safe for concurrent use.
type kv struct {
	store   *store
	log     *slog.Logger
	started time.Time
	port    int // for INFO

	nextID   atomic.Int64  // the last client id given out
	clients  atomic.Int64  // open connections
	accepted atomic.Uint64 // connections since start
	loops    []loopStats   // by loop index: each loop writes only its own

	// closed, if set, is called with every connection that closes and the
	// reason (tests watch hostile input with it).
	closed func(c server.Conn, err error)
}

// loopStats are counters written by one loop only (read by INFO from any).
type loopStats struct {
	commands atomic.Uint64
	hits     atomic.Uint64
	misses   atomic.Uint64
	_        [40]byte // one cache line per loop
}

// client is the state of one connection, owned by its loop.
type client struct {
	id    int64
	conn  server.Conn
	stats *loopStats
	args  [][]byte // the current command, reused
	out   []byte   // the reply being built, reused
	tmp   []byte   // scratch for replies whose length comes last (KEYS, SCAN)
	name  string
	resp  int // protocol version: 2 or 3
	quit  bool
	since time.Time
}

func newKV(log *slog.Logger, loops int) *kv {
	return &kv{
		store:   newStore(),
		log:     log,
		started: time.Now(),
		loops:   make([]loopStats, max(loops, runtime.GOMAXPROCS(0), 1)),
	}
}

func (h *kv) OnOpen(c server.Conn) {
	h.clients.Add(1)
	h.accepted.Add(1)
	c.SetContext(&client{
		id:    h.nextID.Add(1),
		conn:  c,
		stats: &h.loops[c.LoopIndex()%len(h.loops)],
		args:  make([][]byte, 0, 8),
		out:   make([]byte, 0, 512),
		resp:  2,
		since: time.Now(),
	})
}

// OnData is not called: the server runs with a codec and calls OnFrame.
func (h *kv) OnData(server.Conn) {}

func (h *kv) OnClose(c server.Conn, err error) {
	h.clients.Add(-1)
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, server.ErrServerClosed):
	default:
		h.log.Debug("connection closed", "remote", c.RemoteAddr().String(), "reason", err.Error())
	}
	if h.closed != nil {
		h.closed(c, err)
	}
}

// OnFrameError answers input that is not a request — rejected by the codec
// (the server then closes the connection) or by ParseCommand (OnFrame
// closes it) — with Redis's protocol error, and ends the connection's
// requests.
func (h *kv) OnFrameError(c server.Conn, err error) {
	cl := c.Context().(*client)
	if cl.quit {
		return
	}
	var re *codec.RESPError
	reason := "invalid request"
	if errors.As(err, &re) {
		reason = re.Reason
	}
	cl.out = codec.AppendError(cl.out[:0], "ERR Protocol error: "+reason)
	c.Write(cl.out)
	cl.quit = true
}

// OnFrame runs one request: a whole RESP value or inline line, decoded by
// the codec. Pipelined requests arrive one OnFrame each, in order, and
// their replies are queued in order and flushed together.
func (h *kv) OnFrame(c server.Conn, frame []byte) {
	cl := c.Context().(*client)
	if cl.quit {
		return // like Redis, nothing after QUIT runs
	}
	args, err := codec.ParseCommand(frame, cl.args[:0])
	cl.args = args
	defer clear(cl.args) // drop the views into the input
	if err != nil {
		h.OnFrameError(c, err)
		c.CloseWithError(err)
		return
	}
	if len(args) == 0 {
		return // an empty line or array: Redis answers nothing
	}
	cl.out = cl.out[:0]
	h.exec(cl, args)
	c.Write(cl.out)
	if cl.quit {
		c.Close()
	}
	if cap(cl.out) > 64<<10 {
		cl.out = make([]byte, 0, 512) // do not keep a large reply's buffer
	}
}

// The reply helpers append to cl.out in the client's protocol.

func (cl *client) ok()             { cl.out = append(cl.out, "+OK\r\n"...) }
func (cl *client) simple(s string) { cl.out = codec.AppendSimple(cl.out, s) }
func (cl *client) err(msg string)  { cl.out = codec.AppendError(cl.out, msg) }
func (cl *client) int(n int64)     { cl.out = codec.AppendInt(cl.out, n) }
func (cl *client) bulk(b []byte)   { cl.out = codec.AppendBulk(cl.out, b) }
func (cl *client) str(s string)    { cl.out = codec.AppendBulkString(cl.out, s) }
func (cl *client) array(n int)     { cl.out = codec.AppendArrayHeader(cl.out, n) }

// null appends the null bulk string: "$-1" in RESP2, "_" in RESP3.
func (cl *client) null() {
	if cl.resp == 3 {
		cl.out = codec.AppendNull3(cl.out)
	} else {
		cl.out = codec.AppendNull(cl.out)
	}
}

// mapLen appends a map header: a RESP3 map, or a flat array of 2n in RESP2.
func (cl *client) mapLen(n int) {
	if cl.resp == 3 {
		cl.out = codec.AppendMapHeader(cl.out, n)
	} else {
		cl.out = codec.AppendArrayHeader(cl.out, 2*n)
	}
}

// setLen appends a set header: a RESP3 set, or an array in RESP2.
func (cl *client) setLen(n int) {
	if cl.resp == 3 {
		cl.out = codec.AppendSetHeader(cl.out, n)
	} else {
		cl.out = codec.AppendArrayHeader(cl.out, n)
	}
}

// verbatim appends text as Redis sends INFO and CLIENT INFO: a RESP3
// verbatim string, or a bulk string in RESP2.
func (cl *client) verbatim(text string) {
	if cl.resp == 3 {
		cl.out = codec.AppendVerbatim(cl.out, "txt", text)
	} else {
		cl.str(text)
	}
}

// The replies shared by many commands, worded as Redis words them.
const (
	errSyntax       = "ERR syntax error"
	errNotInt       = "ERR value is not an integer or out of range"
	errOverflow     = "ERR increment or decrement would overflow"
	errDBIndex      = "ERR DB index is out of range"
	errClientName   = "ERR Client names cannot contain spaces, newlines or special characters."
	errNoProto      = "NOPROTO unsupported protocol version"
	errProtoVersion = "ERR Protocol version is not an integer or out of range"
	errWrongPass    = "WRONGPASS invalid username-password pair or user is disabled."
)

func (cl *client) errArity(fullname string) {
	cl.out = append(cl.out, "-ERR wrong number of arguments for '"...)
	cl.out = append(cl.out, fullname...)
	cl.out = append(cl.out, "' command\r\n"...)
}

func (cl *client) errExpireTime(fullname string) {
	cl.out = append(cl.out, "-ERR invalid expire time in '"...)
	cl.out = append(cl.out, fullname...)
	cl.out = append(cl.out, "' command\r\n"...)
}

// errUnknownCommand appends Redis's reply to an unknown command: its name
// and the start of its arguments, each cut at 128 bytes in all, quoted.
func (cl *client) errUnknownCommand(args [][]byte) {
	b := append(cl.tmp[:0], "ERR unknown command '"...)
	b = append(b, truncate(cString(args[0]), 128)...)
	b = append(b, "', with args beginning with: "...)
	shown := 0
	for _, a := range args[1:] {
		if shown >= 128 {
			break
		}
		a = truncate(cString(a), 128-shown)
		b = append(append(append(b, '\''), a...), "' "...)
		shown += len(a) + 3
	}
	cl.tmp = b
	cl.err(string(b)) // AppendError also replaces CR and LF, as Redis does
}

func (cl *client) errUnknownSubcommand(cmd string, sub []byte) {
	b := append(cl.tmp[:0], "ERR unknown subcommand '"...)
	b = append(b, truncate(cString(sub), 128)...)
	b = append(b, "'. Try "...)
	b = append(b, cmd...)
	b = append(b, " HELP."...)
	cl.tmp = b
	cl.err(string(b))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
