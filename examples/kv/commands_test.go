package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/codec"
	"github.com/shoalnet/shoal/server"
)

// fakeConn is the part of server.Conn the handler uses, in memory: what
// it writes is kept in out.
type fakeConn struct {
	server.Conn // not set: the methods below are the only ones called
	ctx         any
	out         []byte
	closed      bool
	closeErr    error
}

func (c *fakeConn) Write(p []byte) (int, error) { c.out = append(c.out, p...); return len(p), nil }
func (c *fakeConn) Close() error                { c.closed = true; return nil }
func (c *fakeConn) CloseWithError(e error)      { c.closed, c.closeErr = true, e }
func (c *fakeConn) Context() any                { return c.ctx }
func (c *fakeConn) SetContext(v any)            { c.ctx = v }
func (c *fakeConn) LoopIndex() int              { return 0 }
func (c *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }
func (c *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6380} }

// testKV is a handler with a clock the test moves, and one connection.
type testKV struct {
	h    *kv
	now  int64 // Unix milliseconds
	conn *fakeConn
}

func newTestKV() *testKV {
	tk := &testKV{h: newKV(slog.New(slog.NewTextHandler(io.Discard, nil)), 1), now: 1_700_000_000_000}
	tk.h.store.now = func() int64 { return tk.now }
	tk.conn = &fakeConn{}
	tk.h.OnOpen(tk.conn)
	return tk
}

// do runs one request frame and returns what the handler wrote.
func (tk *testKV) do(frame []byte) string {
	tk.conn.out = tk.conn.out[:0]
	tk.h.OnFrame(tk.conn, frame)
	return string(tk.conn.out)
}

// line is one step of a command table: a command line (split at blanks,
// "" for an empty argument) and the expected reply; "+<ms>" as the command
// moves the clock instead.
type line struct{ cmd, want string }

func (tk *testKV) run(t *testing.T, lines []line) {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l.cmd, "+") {
			var ms int64
			for _, c := range l.cmd[1:] {
				ms = ms*10 + int64(c-'0')
			}
			tk.now += ms
			continue
		}
		args := strings.Fields(l.cmd)
		for i, a := range args {
			if a == `""` {
				args[i] = ""
			}
		}
		if got := tk.do(encode(args...)); got != l.want {
			t.Fatalf("%s: got %q, want %q", l.cmd, got, l.want)
		}
	}
}

var commandCases = []struct {
	name  string
	lines []line
}{
	{"ping echo", []line{
		{"PING", "+PONG\r\n"}, {"ping hi", "$2\r\nhi\r\n"}, {"PING a b", "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"ECHO x", "$1\r\nx\r\n"}, {`ECHO ""`, "$0\r\n\r\n"},
	}},
	{"get set", []line{
		{"GET k", "$-1\r\n"}, {"SET k v", "+OK\r\n"}, {"GET k", "$1\r\nv\r\n"},
		{"SET k longer-value", "+OK\r\n"}, {"GET k", "$12\r\nlonger-value\r\n"},
		{"SET k v2 GET", "$12\r\nlonger-value\r\n"}, {"SET k v3 NX", "$-1\r\n"}, {"SET k v3 XX", "+OK\r\n"},
		{"SET n v XX", "$-1\r\n"}, {"SET n v NX GET", "$-1\r\n"}, {"GET n", "$1\r\nv\r\n"},
		{"SET k v NX XX", "-ERR syntax error\r\n"}, {"SET k v EX", "-ERR syntax error\r\n"},
		{"SET k v EX 1 PX 1", "-ERR syntax error\r\n"}, {"SET k v KEEPTTL PX 1", "-ERR syntax error\r\n"},
		{"SET k v EX x", "-ERR value is not an integer or out of range\r\n"},
		{"SET k v EX 0", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k", "-ERR wrong number of arguments for 'set' command\r\n"},
	}},
	{"expiry is lazy and exact", []line{
		{"SET k v PX 100", "+OK\r\n"}, {"PTTL k", ":100\r\n"}, {"TTL k", ":0\r\n"},
		{"+99", ""}, {"GET k", "$1\r\nv\r\n"}, {"+1", ""}, {"GET k", "$-1\r\n"}, {"DBSIZE", ":0\r\n"},
		{"SET k v EX 10", "+OK\r\n"}, {"+4500", ""}, {"TTL k", ":6\r\n"}, {"+1", ""}, {"TTL k", ":5\r\n"},
		{"SET k w KEEPTTL", "+OK\r\n"}, {"PTTL k", ":5499\r\n"}, {"SET k w", "+OK\r\n"}, {"TTL k", ":-1\r\n"},
		{"SET k v EXAT 1700000010", "+OK\r\n"}, {"PTTL k", ":5399\r\n"},
		{"SET k v PXAT 1700000000000", "+OK\r\n"}, {"EXISTS k", ":0\r\n"},
	}},
	{"expire options", []line{
		{"EXPIRE k 10", ":0\r\n"}, {"SET k v", "+OK\r\n"}, {"EXPIRE k 10 XX", ":0\r\n"}, {"EXPIRE k 10 GT", ":0\r\n"},
		{"EXPIRE k 10 LT", ":1\r\n"}, {"EXPIRE k 10 NX", ":0\r\n"}, {"EXPIRE k 20 GT", ":1\r\n"}, {"TTL k", ":20\r\n"},
		{"PEXPIRE k 1500 LT", ":1\r\n"}, {"PTTL k", ":1500\r\n"}, {"PERSIST k", ":1\r\n"}, {"PERSIST k", ":0\r\n"},
		{"EXPIRE k 0", ":1\r\n"}, {"EXISTS k", ":0\r\n"},
		{"EXPIRE k 1 NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
		{"EXPIRE k 1 GT LT", "-ERR GT and LT options at the same time are not compatible\r\n"},
		{"EXPIRE k 1 XY", "-ERR Unsupported option XY\r\n"},
		{"EXPIRE k 9223372036854775807", "-ERR invalid expire time in 'expire' command\r\n"},
		{"PEXPIRE k 9223372036854775807", "-ERR invalid expire time in 'pexpire' command\r\n"},
		{"TTL k", ":-2\r\n"},
	}},
	{"counters", []line{
		{"INCR c", ":1\r\n"}, {"INCRBY c 41", ":42\r\n"}, {"DECR c", ":41\r\n"}, {"DECRBY c 41", ":0\r\n"},
		{"GET c", "$1\r\n0\r\n"}, {"SET c 9223372036854775807", "+OK\r\n"},
		{"INCR c", "-ERR increment or decrement would overflow\r\n"},
		{"DECRBY c -9223372036854775808", "-ERR decrement would overflow\r\n"},
		{"SET c 01", "+OK\r\n"}, {"INCR c", "-ERR value is not an integer or out of range\r\n"},
		{"INCRBY c x", "-ERR value is not an integer or out of range\r\n"},
		{"SET c 5 EX 10", "+OK\r\n"}, {"INCR c", ":6\r\n"}, {"TTL c", ":10\r\n"},
	}},
	{"multi-key", []line{
		{"MSET a 1 b 2", "+OK\r\n"}, {"MGET a b c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"},
		{"MSET a", "-ERR wrong number of arguments for 'mset' command\r\n"},
		{"MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n"},
		{"EXISTS a a b c", ":3\r\n"}, {"DEL a a c", ":1\r\n"}, {"GETDEL b", "$1\r\n2\r\n"}, {"GETDEL b", "$-1\r\n"},
		{"DBSIZE", ":0\r\n"},
	}},
	{"keys scan type flush", []line{
		{"MSET user:1 a user:2 b other c", "+OK\r\n"}, {"KEYS user:[2]", "*1\r\n$6\r\nuser:2\r\n"},
		{"TYPE other", "+string\r\n"}, {"TYPE none", "+none\r\n"},
		{"SCAN 0 MATCH oth* COUNT 100", "*2\r\n$1\r\n0\r\n*1\r\n$5\r\nother\r\n"},
		{"SCAN 0 TYPE hash COUNT 100", "*2\r\n$1\r\n0\r\n*0\r\n"},
		{"SCAN x", "-ERR invalid cursor\r\n"}, {"SCAN 0 COUNT 0", "-ERR syntax error\r\n"},
		{"FLUSHALL", "+OK\r\n"}, {"DBSIZE", ":0\r\n"}, {"FLUSHDB NOW", "-ERR syntax error\r\n"},
	}},
	{"connection", []line{
		{"SELECT 0", "+OK\r\n"}, {"SELECT 1", "-ERR DB index is out of range\r\n"},
		{"CLIENT GETNAME", "$-1\r\n"}, {"CLIENT SETNAME app", "+OK\r\n"}, {"CLIENT GETNAME", "$3\r\napp\r\n"},
		{"CLIENT ID", ":1\r\n"}, {"CLIENT NOPE", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"},
		{"CLIENT SETNAME", "-ERR wrong number of arguments for 'client|setname' command\r\n"},
		{"CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"COMMAND COUNT", ":31\r\n"},
		{"nope a", "-ERR unknown command 'nope', with args beginning with: 'a' \r\n"},
	}},
	{"resp3", []line{
		{"HELLO 3", "%7\r\n$6\r\nserver\r\n$8\r\nshoal-kv\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n" +
			"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		{"GET k", "_\r\n"}, {"MGET k", "*1\r\n_\r\n"}, {"CONFIG GET save", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"HELLO 4", "-NOPROTO unsupported protocol version\r\n"}, {"HELLO 2", "*14\r\n$6\r\nserver\r\n$8\r\nshoal-kv\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n" +
			"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		{"GET k", "$-1\r\n"},
	}},
}

func TestCommands(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) { newTestKV().run(t, tc.lines) })
	}
}

// TestCmdTableLookup: every command and subcommand is found by its name
// in any case, and only by its name.
func TestCmdTableLookup(t *testing.T) {
	tables := []*cmdTable{commands}
	for _, c := range commands.list {
		if c.subs != nil {
			tables = append(tables, c.subs)
		}
	}
	for _, tab := range tables {
		for _, c := range tab.list {
			for _, name := range []string{c.name, strings.ToUpper(c.name), strings.ToUpper(c.name[:1]) + c.name[1:]} {
				if got := tab.lookup([]byte(name)); got != c {
					t.Errorf("lookup(%q) = %v, want %q", name, got, c.name)
				}
			}
			for _, name := range []string{c.name + "x", c.name[:len(c.name)-1], c.name + "\x00", " " + c.name} {
				if got := tab.lookup([]byte(name)); got != nil {
					t.Errorf("lookup(%q) = %q, want nil", name, got.name)
				}
			}
		}
	}
	for _, name := range []string{"", "g", "GETT", strings.Repeat("get", 1000)} {
		if got := commands.lookup([]byte(name)); got != nil {
			t.Errorf("lookup(%q) = %q, want nil", name, got.name)
		}
	}
	if commands.len() != len(commandList()) {
		t.Errorf("the table holds %d commands, want %d", commands.len(), len(commandList()))
	}
}

// TestCommandDocsParse: COMMAND, COMMAND INFO and COMMAND DOCS (which
// redis-cli reads at start) are well-formed RESP in both protocols.
func TestCommandDocsParse(t *testing.T) {
	tk := newTestKV()
	for _, proto := range []string{"2", "3"} {
		tk.do(encode("HELLO", proto))
		for _, c := range [][]string{{"COMMAND"}, {"COMMAND", "INFO", "get", "client|id", "nope"},
			{"COMMAND", "DOCS"}, {"COMMAND", "DOCS", "set", "client"}, {"COMMAND", "LIST"},
			{"COMMAND", "HELP"}, {"CLIENT", "HELP"}, {"CLIENT", "INFO"}, {"INFO"}, {"INFO", "all"}} {
			out := tk.do(encode(c...))
			mustValue(t, []byte(out))
			if out[0] == '-' {
				t.Errorf("RESP%s %q: %q", proto, c, out)
			}
		}
	}
}

// TestProtocolErrorReply: a frame that is not a command gets Redis's
// protocol error and the connection closes; so does anything after QUIT.
func TestProtocolErrorReply(t *testing.T) {
	cases := []struct{ frame, want string }{
		{"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"SET \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	}
	for _, tc := range cases {
		tk := newTestKV()
		if got := tk.do([]byte(tc.frame)); got != tc.want || !tk.conn.closed || tk.conn.closeErr == nil {
			t.Errorf("%q: got %q, closed %v (%v)", tc.frame, got, tk.conn.closed, tk.conn.closeErr)
		}
		if got := tk.do(encode("PING")); got != "" {
			t.Errorf("after the error: %q", got)
		}
	}
	tk := newTestKV()
	if got := tk.do(encode("QUIT")); got != "+OK\r\n" || !tk.conn.closed {
		t.Fatalf("QUIT: %q, closed %v", got, tk.conn.closed)
	}
	if got := tk.do(encode("SET", "a", "b")); got != "" {
		t.Fatalf("after QUIT: %q", got)
	}
	if got := tk.do([]byte("\r\n")); got != "" {
		t.Fatalf("an empty line is answered: %q", got)
	}
}

// TestActiveExpiry: keys that nobody reads still go, sampled by the
// expiry cycle.
func TestActiveExpiry(t *testing.T) {
	tk := newTestKV()
	var pipe []byte
	for i := range 1000 {
		pipe = append(pipe, encode("SET", "k"+itoa(int64(i)), "v", "PX", "50")...)
	}
	for i := range 100 {
		pipe = append(pipe, encode("SET", "keep"+itoa(int64(i)), "v")...)
	}
	r := codec.NewRESP(codec.RESPConfig{})
	for len(pipe) > 0 {
		frame, n, _ := r.Decode(pipe)
		tk.do(frame)
		pipe = pipe[n:]
	}
	tk.now += 100
	for range 20 {
		tk.h.store.expireCycle(timeFar)
	}
	if keys, expires := tk.h.store.size(); keys != 100 || expires != 0 {
		t.Fatalf("after active expiry: %d keys, %d with a TTL; want 100, 0", keys, expires)
	}
	if n := tk.h.store.expiredCount(); n != 1000 {
		t.Fatalf("expired count %d", n)
	}
}

var timeFar = time.Now().Add(time.Hour)
