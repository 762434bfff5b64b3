package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The comparison tests run the same session against kv and a real
// redis-server and require the same replies, byte for byte, except where a
// step says why they may differ.

// how says how a step's replies are compared.
type how int

const (
	exact   how = iota // byte for byte
	unorder            // an array whose order is the store's (KEYS): as a sorted list
	scanAll            // SCAN: follow the cursor to 0; the set of keys seen
	hello              // HELLO: same fields and values, but server, version and id
	approx             // an integer within a second of the other (PTTL after a delay)
	kind               // the same reply type only (INFO, CLIENT ID, COMMAND COUNT)
	closes             // byte for byte, then the server closes the connection
)

// step is one command (args), or raw bytes that carry n requests (raw),
// or several commands pipelined in one write (pipe), or a pause.
type step struct {
	args  []string
	raw   string
	n     int
	pipe  [][]string
	sleep time.Duration
	how   how
}

func cmd(args ...string) step            { return step{args: args} }
func cmdHow(h how, args ...string) step  { return step{args: args, how: h} }
func raw(n int, b string) step           { return step{raw: b, n: n} }
func rawHow(h how, n int, b string) step { return step{raw: b, n: n, how: h} }
func pause(d time.Duration) step         { return step{sleep: d} }
func pipeline(cmds ...[]string) step     { return step{pipe: cmds} }
func words(s string) []string            { return strings.Fields(s) }
func cmds(lines ...string) (steps []step) {
	for _, l := range lines {
		steps = append(steps, cmd(words(l)...))
	}
	return steps
}

// session is the scripted session: every command kv has, its options and
// its errors, in both protocols, with pipelining and expiry.
func session() []step {
	var s []step
	add := func(steps ...step) { s = append(s, steps...) }
	add(cmds("FLUSHALL", "PING", "PING hello", "ECHO hi", "DBSIZE")...)
	add(cmd("ECHO", "with spaces\r\nand lines"), cmd("ECHO", ""))
	// SET and its options.
	add(cmds(
		"SET k1 v1", "GET k1", "GET nokey", "SET k1 v2 GET", "GET k1",
		"SET k1 v3 NX", "SET k1 v3 XX", "GET k1", "SET k2 v NX GET", "SET k2 w NX GET", "SET k9 v XX GET",
		"SET k3 10 EX 100", "TTL k3", "SET k3 11 KEEPTTL", "TTL k3", "SET k3 12", "TTL k3",
		"SET k4 v PX 100000", "TTL k4", "PERSIST k4", "PERSIST k4", "TTL k4", "PTTL k4",
		"SET k5 v EXAT 99999999999", "SET k5 v PXAT 1", "GET k5", "EXISTS k5",
		"SET k6 v ex 100 EX 200", "TTL k6", "set k7 v nx xx", "SET k7 v NX NX", "GET k7",
		"SET k1 v EX 0", "SET k1 v EX -5", "SET k1 v PX abc", "SET k1 v EX 9223372036854775",
		"SET k1 v PX 9223372036854775807", "SET k1 v FOO", "SET k1 v EX", "SET k1 v KEEPTTL EX 1",
		"SET k1 v EX 1 PX 1000", "SET k1 v EXAT 1 EX 1", "SET k1", "SET",
	)...)
	add(cmdHow(approx, "PTTL", "k3"), cmdHow(approx, "PTTL", "k6"), cmd("SET", "k5", "v", "EXAT", "99999999999"),
		cmdHow(approx, "TTL", "k5"), cmdHow(approx, "PTTL", "k5"))
	add(cmds(
		"GETDEL k1", "GETDEL k1", "GETDEL", "DEL k2 k3 nokey k2", "DEL",
		"EXISTS k4 k4 nokey", "EXISTS",
	)...)
	// Counters.
	add(cmds(
		"INCR counter", "INCR counter", "DECR counter", "INCRBY counter 10", "DECRBY counter 5",
		"INCRBY counter -3", "DECRBY counter -3", "GET counter", "INCR", "INCRBY counter",
		"SET text abc", "INCR text", "INCRBY counter abc", "INCRBY counter 1.5", "DECRBY counter ' 1'",
		"SET big 9223372036854775807", "INCR big", "DECRBY big -9223372036854775808",
		"DECRBY counter -9223372036854775808", "SET small -9223372036854775808", "DECR small",
		"SET z 007", "INCR z", "SET z -0", "INCR z", "SET z 123456789012345678901", "INCR z",
		"SET c 5 EX 100", "INCR c", "TTL c", "INCRBY nc -7", "GET nc",
	)...)
	add(cmd("SET", "spaced", " 1"), cmd("INCR", "spaced"))
	// MSET and MGET.
	add(cmds(
		"MSET a 1 b 2 c 3", "MGET a b nokey c", "MSET a", "MSET a 1 b", "MGET",
		"SET t v EX 100", "MSET t w", "TTL t", "MSET d 1 d 2", "GET d",
	)...)
	// Expiry commands and their options.
	add(cmds(
		"EXPIRE a 100", "TTL a", "EXPIRE a 100 NX", "EXPIRE a 200 XX", "TTL a",
		"EXPIRE a 50 GT", "EXPIRE a 300 GT", "TTL a", "EXPIRE a 400 LT", "EXPIRE a 20 LT", "TTL a",
		"EXPIRE b 10 XX", "EXPIRE b 10 GT", "EXPIRE b 10 LT", "TTL b", "PERSIST b", "EXPIRE b 10 NX", "TTL b",
		"EXPIRE a 10 NX XX", "EXPIRE a 10 GT LT", "EXPIRE a 10 NX GT", "EXPIRE a 10 FOO", "EXPIRE a 10 nx lt",
		"EXPIRE a abc", "EXPIRE a 9223372036854775807", "EXPIRE a -9223372036854775807",
		"PEXPIRE a 9223372036854775807", "EXPIRE nokey 10", "EXPIRE a", "PEXPIRE a 100000", "TTL a",
		"PEXPIRE a -1", "EXISTS a", "TTL a", "EXPIRE c 0", "GET c",
		"TTL nokey", "PTTL nokey", "PERSIST nokey", "TTL", "PTTL a b",
	)...)
	add(cmdHow(approx, "PTTL", "b"))
	// KEYS and SCAN with glob patterns.
	add(cmds("FLUSHDB",
		"MSET user:1 a user:2 b user:10 c user:a d uSer:x e item[1] f a*b g hello h hallo i hxllo j heello k h\\llo l -x m",
		"DBSIZE", "TYPE hello", "TYPE nokey", "TYPE",
	)...)
	add(cmd("SET", "", "the empty key"), cmd("GET", ""))
	for _, p := range []string{
		"*", "user:*", "user:?", "user:??", "user:[12]", "user:[^1]*", "user:[a-z]", "user:[z-a]",
		"h[a-e]llo", "h[^e]llo", "h?llo", "h*llo", "*\\[1\\]", "a\\*b", "a*b", "h\\\\llo", "[", "user:[",
		"[\\-]x", "*o", "**", "", "?", "h[ae]*o", "*[", "user:[1-", "\\",
	} {
		add(cmdHow(unorder, "KEYS", p))
	}
	add(cmds("KEYS", "KEYS a b")...)
	add(cmdHow(scanAll, "SCAN", "0"), cmdHow(scanAll, "SCAN", "0", "COUNT", "2"),
		cmdHow(scanAll, "SCAN", "0", "MATCH", "user:*", "COUNT", "3"),
		cmdHow(scanAll, "SCAN", "0", "MATCH", "h[a-e]llo"), cmdHow(scanAll, "SCAN", "0", "TYPE", "string"),
		cmdHow(scanAll, "SCAN", "0", "TYPE", "hash"), cmdHow(scanAll, "SCAN", "0", "type", "STRING", "match", "*1*"))
	add(cmds(
		"SCAN", "SCAN abc", "SCAN 1x", "SCAN 0 COUNT 0", "SCAN 0 COUNT -1", "SCAN 0 COUNT abc",
		"SCAN 0 FOO", "SCAN 0 MATCH", "SCAN 0 COUNT", "SCAN 0 MATCH * COUNT",
	)...)
	add(cmd("SCAN", " 0"))
	// Pipelining: a hundred commands in one write.
	var pipe [][]string
	for i := range 100 {
		pipe = append(pipe, words(fmt.Sprintf("SET p:%d %d", i, i)), words(fmt.Sprintf("GET p:%d", i)), words("INCR pc"))
	}
	add(pipeline(pipe...), cmd("GET", "pc"), cmd("DBSIZE"))
	// Inline commands, as telnet sends them.
	add(raw(5, "PING\r\nSET inl \"a b\\x41\\n\"\r\nGET inl\r\nECHO 'x y' \n\r\n  \r\nEXISTS inl   nokey\r\n"))
	add(raw(1, "GET 'it\\'s'\r\n"))
	// Expiry: lazily on access, after the time has passed.
	add(cmds("SET e1 v PX 100", "SET e2 v PX 100", "SET e3 v EX 100")...)
	add(pause(300 * time.Millisecond))
	add(cmds("GET e1", "EXISTS e2", "TTL e1", "TTL e2", "GET e2", "DBSIZE", "TTL e3")...)
	// The connection commands.
	add(cmds(
		"SELECT 0", "SELECT 1", "SELECT -1", "SELECT abc", "SELECT 99999999999", "SELECT",
		"CLIENT", "CLIENT FOO", "CLIENT SETNAME", "CLIENT SETNAME a b", "CLIENT GETNAME",
		"CLIENT SETNAME conn1", "CLIENT GETNAME", "CLIENT GETNAME x", "CLIENT getname",
	)...)
	add(cmd("CLIENT", "SETNAME", "a b"), cmd("CLIENT", "SETNAME", "caf\xc3\xa9"), cmd("CLIENT", "SETNAME", ""), cmd("CLIENT", "GETNAME"))
	add(cmdHow(kind, "CLIENT", "ID"), cmdHow(kind, "CLIENT", "INFO"), cmdHow(kind, "COMMAND", "COUNT"),
		cmdHow(kind, "INFO"), cmdHow(kind, "INFO", "keyspace"), cmdHow(kind, "COMMAND", "DOCS", "get"))
	add(cmds("COMMAND FOO", "COMMAND COUNT x", "CONFIG", "CONFIG FOO", "CONFIG GET", "CONFIG GET save",
		"CONFIG GET appendonly", "CONFIG GET databases", "CONFIG GET nosuch")...)
	// Unknown commands and how Redis quotes their arguments.
	long := strings.Repeat("a", 100)
	add(cmds("foo", "foo a b", "FOO  x", "get", "GeT k", "gEt")...)
	add(cmd("foo", long, long, "c"), cmd(strings.Repeat("x", 200)), cmd("foo", "a\r\nb", "c\x00d"), cmd(""))
	// HELLO and RESP3.
	add(cmds("HELLO 4", "HELLO 1", "HELLO abc", "HELLO 2 FOO", "HELLO 3 AUTH default", "HELLO 3 AUTH nobody pw",
		"HELLO 3 SETNAME a\tb")...)
	add(cmdHow(hello, "HELLO"), cmdHow(hello, "HELLO", "2", "SETNAME", "h2"), cmd("CLIENT", "GETNAME"))
	add(cmdHow(hello, "HELLO", "3", "AUTH", "default", "secret"))
	add(cmds("GET nokey", "MGET user:1 nokey", "SET user:1 z NX", "SET user:1 z XX GET", "SET k8 z XX GET",
		"CLIENT SETNAME", "CONFIG GET save", "CONFIG GET nosuch", "GETDEL nokey", "TTL nokey", "PING")...)
	add(cmdHow(kind, "INFO"), cmdHow(kind, "CLIENT", "INFO"), cmdHow(hello, "HELLO"))
	add(cmdHow(hello, "HELLO", "2"), cmd("GET", "nokey"))
	// FLUSHDB and FLUSHALL options.
	add(cmds("FLUSHDB FOO", "FLUSHDB ASYNC x", "FLUSHDB ASYNC", "SET a 1", "FLUSHALL sync", "DBSIZE", "KEYS *")...)
	// QUIT answers, then closes; pipelined commands after it do not run.
	add(rawHow(closes, 1, string(encode("QUIT"))+string(encode("SET", "after", "quit"))))
	return s
}

// result is what a step produced, normalized by its comparison.
type result struct {
	text string
	num  int64 // for approx
}

// runSession runs steps on a fresh connection to addr.
func runSession(t *testing.T, addr string, steps []step) []result {
	rc := dialRESP(t, addr)
	var out []result
	for _, st := range steps {
		switch {
		case st.sleep > 0:
			time.Sleep(st.sleep)
			out = append(out, result{text: "pause"})
			continue
		case st.pipe != nil:
			var b []byte
			for _, c := range st.pipe {
				b = append(b, encode(c...)...)
			}
			rc.send(b)
			var text strings.Builder
			for range st.pipe {
				text.Write(rc.mustRead())
			}
			out = append(out, result{text: text.String()})
			continue
		case st.raw != "":
			rc.send([]byte(st.raw))
			var text strings.Builder
			for range st.n {
				text.Write(rc.mustRead())
			}
			if st.how == closes {
				_, err := rc.read()
				fmt.Fprintf(&text, " then %v", err)
			}
			out = append(out, result{text: text.String()})
			continue
		}
		reply := rc.do(st.args...)
		switch st.how {
		case exact:
			out = append(out, result{text: string(reply)})
		case unorder:
			v := mustValue(t, reply)
			list, ok := v.([]value)
			if !ok {
				out = append(out, result{text: string(reply)})
				continue
			}
			var keys []string
			for _, k := range list {
				keys = append(keys, fmt.Sprint(k))
			}
			slices.Sort(keys)
			out = append(out, result{text: fmt.Sprintf("%c%q", reply[0], keys)})
		case scanAll:
			out = append(out, result{text: scanKeys(t, rc, st.args)})
		case hello:
			out = append(out, result{text: helloFields(t, reply)})
		case approx:
			n, _ := mustValue(t, reply).(int64)
			out = append(out, result{text: "approx", num: n})
		case kind:
			out = append(out, result{text: string(reply[:1])})
		}
	}
	return out
}

// scanKeys follows a SCAN to its end and returns the sorted set of keys.
func scanKeys(t *testing.T, rc *respConn, args []string) string {
	seen := map[string]bool{}
	cursor := args[1]
	for range 10000 {
		v, _ := mustValue(t, rc.do(append([]string{"SCAN", cursor}, args[2:]...)...)).([]value)
		if len(v) != 2 {
			t.Fatalf("SCAN reply %v", v)
		}
		for _, k := range v[1].([]value) {
			seen[k.(string)] = true
		}
		if cursor = v[0].(string); cursor == "0" {
			keys := make([]string, 0, len(seen))
			for k := range seen {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return fmt.Sprintf("%q", keys)
		}
	}
	t.Fatalf("SCAN %v does not end", args)
	return ""
}

// helloFields renders a HELLO reply with the values of server, version
// and id hidden.
func helloFields(t *testing.T, reply []byte) string {
	v := mustValue(t, reply)
	list, ok := v.([]value)
	if !ok {
		return string(reply)
	}
	var b strings.Builder
	b.WriteByte(reply[0])
	for i := 0; i+1 < len(list); i += 2 {
		val := list[i+1]
		switch list[i] {
		case "server", "version", "id":
			val = "*"
		}
		fmt.Fprintf(&b, " %v=%v", list[i], val)
	}
	return b.String()
}

func describe(st step) string {
	switch {
	case st.sleep > 0:
		return fmt.Sprintf("sleep %v", st.sleep)
	case st.pipe != nil:
		return fmt.Sprintf("pipeline of %d commands", len(st.pipe))
	case st.raw != "":
		return fmt.Sprintf("raw %q", st.raw)
	}
	return fmt.Sprintf("%q", st.args)
}

func TestSameRepliesAsRedis(t *testing.T) {
	redis := startRedis(t)
	kvAddr, _ := startKV(t)
	steps := session()
	want := runSession(t, redis, steps)
	got := runSession(t, kvAddr, steps)
	for i, st := range steps {
		w, g := want[i], got[i]
		same := w.text == g.text
		if st.how == approx {
			same = g.num-w.num <= 1000 && w.num-g.num <= 1000
		}
		if !same {
			t.Errorf("%s:\n redis %q %d\n kv    %q %d", describe(st), w.text, w.num, g.text, g.num)
		}
	}
}

// TestRedisCLI pipes the same script through redis-cli to both servers and
// compares its output, as a user would see it.
func TestRedisCLI(t *testing.T) {
	cli := needTool(t, "redis-cli")
	redis := startRedis(t)
	kvAddr, _ := startKV(t)
	script := strings.Join([]string{
		"PING", "SET greeting hello", "GET greeting", "SET greeting hi XX GET", "APPENDX nothing",
		"INCR visits", "INCRBY visits 41", "GET visits", "MSET a 1 b 2", "MGET a b c",
		"EXPIRE a 100", "TTL a", "PERSIST a", "TTL a", "DEL a b nokey", "EXISTS greeting",
		"SET \"key with space\" \"value\\nwith newline\"", "GET \"key with space\"",
		"KEYS greet*", "TYPE greeting", "DBSIZE", "CLIENT SETNAME cli", "CLIENT GETNAME",
		"SET x 1 EX 0", "SELECT 1", "GETDEL greeting", "GET greeting", "FLUSHDB", "DBSIZE",
	}, "\n") + "\n"
	run := func(addr string) string {
		_, port, _ := strings.Cut(addr, ":")
		c := exec.Command(cli, "-p", port, "--no-raw")
		c.Stdin = strings.NewReader(script)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli against %s: %v\n%s", addr, err, out)
		}
		return string(out)
	}
	want, got := run(redis), run(kvAddr)
	if want != got {
		t.Fatalf("redis-cli output differs:\nredis:\n%s\nkv:\n%s", want, got)
	}
	if !strings.Contains(got, `"value\nwith newline"`) || !strings.Contains(got, "(integer) 42") {
		t.Fatalf("unexpected output:\n%s", got)
	}
}

// TestProtocolErrorsLikeRedis: a request that is not a command, or input
// that is not RESP, gets Redis's protocol error, then the close, from both
// servers; what was pipelined before it is answered first.
func TestProtocolErrorsLikeRedis(t *testing.T) {
	redis := startRedis(t)
	kvAddr, _ := startKV(t)
	for _, in := range []string{
		"*1\r\n+PING\r\n",
		"*2\r\n$4\r\nECHO\r\n:1\r\n",
		"*1\r\n$-1\r\n",
		"SET \"a\r\n",
		"GET 'a\r\n",
		"PING\r\nSET \"x\"y\r\nPING\r\n",
		// Rejected by the codec itself (OnFrameError).
		"PING\r\n*abc\r\n",
		"*1\r\n$abc\r\n",
	} {
		read := func(addr string) string {
			rc := dialRESP(t, addr)
			rc.send([]byte(in))
			var b strings.Builder
			for {
				reply, err := rc.read()
				if err != nil {
					fmt.Fprintf(&b, "then %v", err != nil)
					return b.String()
				}
				b.Write(reply)
			}
		}
		if want, got := read(redis), read(kvAddr); want != got {
			t.Errorf("%q:\n redis %q\n kv    %q", in, want, got)
		}
	}
}
