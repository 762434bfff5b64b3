package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The connection and server commands.

// serverName and serverVersion are what HELLO and INFO report: the
// version is the Redis release whose commands and replies kv follows.
const (
	serverName    = "shoal-kv"
	serverVersion = "7.0.15"
)

func cmdPing(h *kv, cl *client, args [][]byte) {
	if len(args) == 2 {
		cl.bulk(args[1])
		return
	}
	if len(args) > 2 {
		cl.errArity("ping")
		return
	}
	cl.out = append(cl.out, "+PONG\r\n"...)
}

func cmdEcho(h *kv, cl *client, args [][]byte) { cl.bulk(args[1]) }

// cmdSelect accepts database 0 only: kv has one database, like a Redis
// started with "databases 1".
func cmdSelect(h *kv, cl *client, args [][]byte) {
	id, ok := parseInt(args[1])
	switch {
	case !ok:
		cl.err(errNotInt)
	case id < -1<<31 || id >= 1<<31:
		cl.err("ERR value is out of range, value must between -2147483648 and 2147483647")
	case id != 0:
		cl.err(errDBIndex)
	default:
		cl.ok()
	}
}

func cmdQuit(h *kv, cl *client, args [][]byte) {
	cl.ok()
	cl.quit = true
}

// cmdHello is HELLO [protover [AUTH username password] [SETNAME name]].
// There are no passwords: AUTH accepts the default user, as a Redis
// without requirepass does.
func cmdHello(h *kv, cl *client, args [][]byte) {
	ver := int64(0)
	next := 1
	if len(args) >= 2 {
		var ok bool
		if ver, ok = parseInt(args[1]); !ok {
			cl.err(errProtoVersion)
			return
		}
		if ver < 2 || ver > 3 {
			cl.err(errNoProto)
			return
		}
		next = 2
	}
	var user, name []byte
	setName := false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case equalFold(args[j], "auth") && more >= 2:
			user = args[j+1]
			j += 2
		case equalFold(args[j], "setname") && more >= 1:
			name, setName = args[j+1], true
			j++
		default:
			cl.err("ERR Syntax error in HELLO option '" + string(cString(args[j])) + "'")
			return
		}
	}
	if user != nil && string(user) != "default" {
		cl.err(errWrongPass)
		return
	}
	if setName && !cl.setName(name) {
		return
	}
	if ver != 0 {
		cl.resp = int(ver)
	}
	cl.mapLen(7)
	cl.str("server")
	cl.str(serverName)
	cl.str("version")
	cl.str(serverVersion)
	cl.str("proto")
	cl.int(int64(cl.resp))
	cl.str("id")
	cl.int(cl.id)
	cl.str("mode")
	cl.str("standalone")
	cl.str("role")
	cl.str("master")
	cl.str("modules")
	cl.array(0)
}

// setName sets the client's name, or answers Redis's error for a name
// with bytes outside '!'..'~'. An empty name clears it.
func (cl *client) setName(name []byte) bool {
	for _, c := range name {
		if c < '!' || c > '~' {
			cl.err(errClientName)
			return false
		}
	}
	cl.name = string(name)
	return true
}

func cmdClientID(h *kv, cl *client, args [][]byte) { cl.int(cl.id) }

func cmdClientSetName(h *kv, cl *client, args [][]byte) {
	if cl.setName(args[2]) {
		cl.ok()
	}
}

func cmdClientGetName(h *kv, cl *client, args [][]byte) {
	if cl.name == "" {
		cl.null()
		return
	}
	cl.str(cl.name)
}

// cmdClientInfo describes the connection in the format of CLIENT LIST;
// the fields kv does not track are zero.
func cmdClientInfo(h *kv, cl *client, args [][]byte) {
	var b strings.Builder
	b.WriteString("id=" + itoa(cl.id))
	b.WriteString(" addr=" + cl.conn.RemoteAddr().String())
	b.WriteString(" laddr=" + cl.conn.LocalAddr().String())
	b.WriteString(" fd=-1 name=" + cl.name)
	b.WriteString(" age=" + itoa(int64(time.Since(cl.since)/time.Second)))
	b.WriteString(" idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0")
	b.WriteString(" rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|info user=default redir=-1")
	b.WriteString(" resp=" + strconv.Itoa(cl.resp) + "\n")
	cl.verbatim(b.String())
}

func cmdClientHelp(h *kv, cl *client, args [][]byte) {
	cl.help("CLIENT",
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"SETNAME <connection-name>",
		"    Assign the name <connection-name> to the current connection.")
}

// help appends a HELP reply as Redis formats it.
func (cl *client) help(cmd string, lines ...string) {
	cl.array(len(lines) + 3)
	cl.simple(cmd + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		cl.simple(l)
	}
	cl.simple("HELP")
	cl.simple("    Print this help.")
}

func cmdCommandAll(h *kv, cl *client, args [][]byte) {
	cl.array(commands.len())
	for _, c := range commands.list {
		cl.commandInfo(c)
	}
}

func cmdCommandCount(h *kv, cl *client, args [][]byte) { cl.int(int64(commands.len())) }

func cmdCommandList(h *kv, cl *client, args [][]byte) {
	if len(args) > 2 {
		cl.err(errSyntax) // FILTERBY is not supported
		return
	}
	cl.array(commands.len())
	for _, c := range commands.list {
		cl.str(c.name)
	}
}

func cmdCommandInfo(h *kv, cl *client, args [][]byte) {
	if len(args) == 2 {
		cmdCommandAll(h, cl, args)
		return
	}
	cl.array(len(args) - 2)
	for _, name := range args[2:] {
		if c := lookupFull(name); c != nil {
			cl.commandInfo(c)
		} else {
			cl.null()
		}
	}
}

// lookupFull finds a command by name or by "container|sub" name.
func lookupFull(name []byte) *command {
	if i := strings.IndexByte(string(name), '|'); i >= 0 {
		if c := commands.lookup(name[:i]); c != nil && c.subs != nil {
			return c.subs.lookup(name[i+1:])
		}
		return nil
	}
	return commands.lookup(name)
}

// commandInfo appends a command's COMMAND INFO entry (Redis 7 format:
// name, arity, flags, first key, last key, step, ACL categories, tips,
// key specifications, subcommands).
func (cl *client) commandInfo(c *command) {
	cl.array(10)
	cl.str(c.fullname)
	cl.int(int64(c.arity))
	cl.setLen(len(c.flags))
	for _, f := range c.flags {
		cl.simple(f)
	}
	cl.int(int64(c.firstKey))
	cl.int(int64(c.lastKey))
	cl.int(int64(c.step))
	cl.setLen(len(c.categories))
	for _, cat := range c.categories {
		cl.simple(cat)
	}
	cl.setLen(0) // tips
	cl.setLen(0) // key specifications
	subs := sortedSubs(c)
	cl.array(len(subs))
	for _, s := range subs {
		cl.commandInfo(s)
	}
}

// sortedSubs returns c's subcommands, sorted by name (none: nil).
func sortedSubs(c *command) []*command {
	if c.subs == nil {
		return nil
	}
	return c.subs.list
}

// cmdCommandDocs is COMMAND DOCS [name ...], which redis-cli asks for at
// start to build its help: a map of names to maps of summary, since,
// group, complexity and, for containers, subcommands.
func cmdCommandDocs(h *kv, cl *client, args [][]byte) {
	var list []*command
	if len(args) == 2 {
		list = commands.list
	} else {
		for _, name := range args[2:] {
			if c := lookupFull(name); c != nil {
				list = append(list, c)
			}
		}
	}
	cl.mapLen(len(list))
	for _, c := range list {
		cl.str(c.fullname)
		cl.commandDocs(c)
	}
}

func (cl *client) commandDocs(c *command) {
	subs := sortedSubs(c)
	n := 4
	if len(subs) > 0 {
		n++
	}
	cl.mapLen(n)
	cl.str("summary")
	cl.str(c.summary)
	cl.str("since")
	cl.str(c.since)
	cl.str("group")
	cl.str(c.group)
	cl.str("complexity")
	cl.str(c.complexity)
	if len(subs) > 0 {
		cl.str("subcommands")
		cl.mapLen(len(subs))
		for _, s := range subs {
			cl.str(s.fullname)
			cl.commandDocs(s)
		}
	}
}

func cmdCommandHelp(h *kv, cl *client, args [][]byte) {
	cl.help("COMMAND",
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.")
}

// cmdConfigGet is CONFIG GET pattern [pattern ...] over the few
// parameters clients and redis-benchmark ask for.
func cmdConfigGet(h *kv, cl *client, args [][]byte) {
	params := [][2]string{
		{"appendonly", "no"},
		{"databases", "1"},
		{"maxclients", "10000"},
		{"maxmemory", "0"},
		{"port", strconv.Itoa(h.port)},
		{"proto-max-bulk-len", strconv.Itoa(maxBulk)},
		{"save", ""},
	}
	var found [][2]string
	for _, p := range params {
		for _, pat := range args[2:] {
			if matchGlobFold(pat, p[0]) {
				found = append(found, p)
				break
			}
		}
	}
	cl.mapLen(len(found))
	for _, p := range found {
		cl.str(p[0])
		cl.str(p[1])
	}
}

// matchGlobFold matches a CONFIG GET pattern, which ignores case; the
// parameter names are lower case.
func matchGlobFold(pattern []byte, name string) bool {
	return matchGlob([]byte(strings.ToLower(string(pattern))), []byte(name))
}

func cmdConfigHelp(h *kv, cl *client, args [][]byte) {
	cl.help("CONFIG",
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.")
}

// cmdInfo is INFO [section ...]: server, clients, memory, stats, keyspace
// ("all", "everything" and "default" are all of them).
func cmdInfo(h *kv, cl *client, args [][]byte) {
	want := map[string]bool{}
	if len(args) == 1 {
		want["default"] = true
	}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := want["all"] || want["everything"] || want["default"]
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !all && !want[strings.ToLower(name)] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	uptime := int64(time.Since(h.started) / time.Second)
	section("Server",
		"redis_version:"+serverVersion,
		"server_name:"+serverName,
		"redis_mode:standalone",
		"os:"+runtime.GOOS,
		"arch_bits:"+strconv.Itoa(strconv.IntSize),
		"go_version:"+runtime.Version(),
		"process_id:"+strconv.Itoa(os.Getpid()),
		"tcp_port:"+strconv.Itoa(h.port),
		"uptime_in_seconds:"+itoa(uptime),
		"uptime_in_days:"+itoa(uptime/86400),
		"event_loops:"+strconv.Itoa(len(h.loops)))
	section("Clients",
		"connected_clients:"+itoa(h.clients.Load()))
	var ms runtime.MemStats
	if all || want["memory"] {
		runtime.ReadMemStats(&ms)
	}
	section("Memory",
		"used_memory:"+strconv.FormatUint(ms.HeapAlloc, 10),
		"used_memory_human:"+humanBytes(ms.HeapAlloc),
		"used_memory_rss:"+strconv.FormatUint(ms.Sys, 10),
		"maxmemory:0")
	var commands, hits, misses uint64
	for i := range h.loops {
		commands += h.loops[i].commands.Load()
		hits += h.loops[i].hits.Load()
		misses += h.loops[i].misses.Load()
	}
	section("Stats",
		"total_connections_received:"+strconv.FormatUint(h.accepted.Load(), 10),
		"total_commands_processed:"+strconv.FormatUint(commands, 10),
		"expired_keys:"+strconv.FormatUint(h.store.expiredCount(), 10),
		"keyspace_hits:"+strconv.FormatUint(hits, 10),
		"keyspace_misses:"+strconv.FormatUint(misses, 10))
	var keyspace []string
	if keys, expires := h.store.size(); keys > 0 {
		keyspace = append(keyspace, "db0:keys="+strconv.Itoa(keys)+",expires="+strconv.Itoa(expires)+",avg_ttl=0")
	}
	section("Keyspace", keyspace...)
	cl.verbatim(b.String())
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + "G"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + "M"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 2, 64) + "K"
	}
	return strconv.FormatUint(n, 10) + "B"
}
