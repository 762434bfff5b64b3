package main

import (
	"slices"
	"strings"
)

// command is one entry of the command table: how to run it and what
// COMMAND INFO and COMMAND DOCS say about it.
type command struct {
	name     string // lower case
	fullname string // "client|setname" for a subcommand, as Redis names it in errors
	arity    int    // n > 0: exactly n arguments; n < 0: at least -n (the name counts)
	run      func(h *kv, cl *client, args [][]byte)
	subs     *cmdTable // subcommands of a container command (CLIENT, COMMAND, CONFIG)

	flags      []string // COMMAND INFO
	firstKey   int
	lastKey    int
	step       int
	categories []string
	group      string // COMMAND DOCS
	summary    string
	since      string
	complexity string
}

// commands is the command table. It is built once, then only read.
var commands *cmdTable

func init() { commands = newCmdTable(commandList()) }

// cmdTable finds commands by name, ignoring case, without allocating: an
// open-addressing hash table keyed by the FNV-1a hash of the lower-case
// name, at most half full. A lookup is one pass over the name and usually
// one comparison: a third of the cost of the map[string] it replaces
// (which needed the name lowered into a buffer, then the runtime's string
// hash and probe), on a path every request takes.
type cmdTable struct {
	list  []*command // sorted by name
	slots []*command // len is a power of two; nil: free
}

func newCmdTable(list []*command) *cmdTable {
	slices.SortFunc(list, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	size := 8
	for size < 2*len(list) {
		size *= 2
	}
	t := &cmdTable{list: list, slots: make([]*command, size)}
	mask := uint32(size - 1)
	for _, c := range list {
		i := nameHash([]byte(c.name))
		for t.slots[i&mask] != nil {
			i++
		}
		t.slots[i&mask] = c
	}
	return t
}

// nameHash is the FNV-1a hash of name in lower case.
func nameHash(name []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// lookup finds a command by name, ignoring case, or returns nil.
func (t *cmdTable) lookup(name []byte) *command {
	mask := uint32(len(t.slots) - 1)
	for i := nameHash(name); ; i++ {
		c := t.slots[i&mask]
		if c == nil || equalFold(name, c.name) {
			return c
		}
	}
}

// len returns the number of commands.
func (t *cmdTable) len() int { return len(t.list) }

func commandList() []*command {
	rw := []string{"write", "denyoom"}
	ro := []string{"readonly", "fast"}
	fast := []string{"fast"}
	str := func(extra ...string) []string { return append([]string{"@string"}, extra...) }
	key := func(extra ...string) []string { return append([]string{"@keyspace"}, extra...) }
	conn := []string{"@connection", "@fast"}
	list := []*command{
		{name: "get", arity: 2, run: cmdGet, flags: ro, firstKey: 1, lastKey: 1, step: 1, categories: str("@read", "@fast"),
			group: "string", summary: "Get the value of a key", since: "1.0.0", complexity: "O(1)"},
		{name: "set", arity: -3, run: cmdSet, flags: rw, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@slow"),
			group: "string", summary: "Set the string value of a key", since: "1.0.0", complexity: "O(1)"},
		{name: "getdel", arity: 2, run: cmdGetDel, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@fast"),
			group: "string", summary: "Get the value of a key and delete the key", since: "6.2.0", complexity: "O(1)"},
		{name: "mget", arity: -2, run: cmdMGet, flags: ro, firstKey: 1, lastKey: -1, step: 1, categories: str("@read", "@fast"),
			group: "string", summary: "Get the values of all the given keys", since: "1.0.0", complexity: "O(N) where N is the number of keys to retrieve."},
		{name: "mset", arity: -3, run: cmdMSet, flags: rw, firstKey: 1, lastKey: -1, step: 2, categories: str("@write", "@slow"),
			group: "string", summary: "Set multiple keys to multiple values", since: "1.0.1", complexity: "O(N) where N is the number of keys to set."},
		{name: "incr", arity: 2, run: cmdIncr, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@fast"),
			group: "string", summary: "Increment the integer value of a key by one", since: "1.0.0", complexity: "O(1)"},
		{name: "decr", arity: 2, run: cmdDecr, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@fast"),
			group: "string", summary: "Decrement the integer value of a key by one", since: "1.0.0", complexity: "O(1)"},
		{name: "incrby", arity: 3, run: cmdIncrBy, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@fast"),
			group: "string", summary: "Increment the integer value of a key by the given amount", since: "1.0.0", complexity: "O(1)"},
		{name: "decrby", arity: 3, run: cmdDecrBy, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: str("@write", "@fast"),
			group: "string", summary: "Decrement the integer value of a key by the given number", since: "1.0.0", complexity: "O(1)"},

		{name: "del", arity: -2, run: cmdDel, flags: []string{"write"}, firstKey: 1, lastKey: -1, step: 1, categories: key("@write", "@slow"),
			group: "generic", summary: "Delete a key", since: "1.0.0", complexity: "O(N) where N is the number of keys that will be removed."},
		{name: "exists", arity: -2, run: cmdExists, flags: ro, firstKey: 1, lastKey: -1, step: 1, categories: key("@read", "@fast"),
			group: "generic", summary: "Determine if a key exists", since: "1.0.0", complexity: "O(N) where N is the number of keys to check."},
		{name: "expire", arity: -3, run: cmdExpire, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: key("@write", "@fast"),
			group: "generic", summary: "Set a key's time to live in seconds", since: "1.0.0", complexity: "O(1)"},
		{name: "pexpire", arity: -3, run: cmdPExpire, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: key("@write", "@fast"),
			group: "generic", summary: "Set a key's time to live in milliseconds", since: "2.6.0", complexity: "O(1)"},
		{name: "ttl", arity: 2, run: cmdTTL, flags: ro, firstKey: 1, lastKey: 1, step: 1, categories: key("@read", "@fast"),
			group: "generic", summary: "Get the time to live for a key in seconds", since: "1.0.0", complexity: "O(1)"},
		{name: "pttl", arity: 2, run: cmdPTTL, flags: ro, firstKey: 1, lastKey: 1, step: 1, categories: key("@read", "@fast"),
			group: "generic", summary: "Get the time to live for a key in milliseconds", since: "2.6.0", complexity: "O(1)"},
		{name: "persist", arity: 2, run: cmdPersist, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, categories: key("@write", "@fast"),
			group: "generic", summary: "Remove the expiration from a key", since: "2.2.0", complexity: "O(1)"},
		{name: "keys", arity: 2, run: cmdKeys, flags: []string{"readonly"}, categories: key("@read", "@slow", "@dangerous"),
			group: "generic", summary: "Find all keys matching the given pattern", since: "1.0.0", complexity: "O(N) with N being the number of keys in the database"},
		{name: "scan", arity: -2, run: cmdScan, flags: []string{"readonly"}, categories: key("@read", "@slow"),
			group: "generic", summary: "Incrementally iterate the keys space", since: "2.8.0", complexity: "O(1) for every call. O(N) for a complete iteration."},
		{name: "type", arity: 2, run: cmdType, flags: ro, firstKey: 1, lastKey: 1, step: 1, categories: key("@read", "@fast"),
			group: "generic", summary: "Determine the type stored at key", since: "1.0.0", complexity: "O(1)"},
		{name: "dbsize", arity: 1, run: cmdDBSize, flags: ro, categories: key("@read", "@fast"),
			group: "server", summary: "Return the number of keys in the selected database", since: "1.0.0", complexity: "O(1)"},
		{name: "flushdb", arity: -1, run: cmdFlush, flags: []string{"write"}, categories: key("@write", "@slow", "@dangerous"),
			group: "server", summary: "Remove all keys from the current database", since: "1.0.0", complexity: "O(N) where N is the number of keys in the selected database"},
		{name: "flushall", arity: -1, run: cmdFlush, flags: []string{"write"}, categories: key("@write", "@slow", "@dangerous"),
			group: "server", summary: "Remove all keys from all databases", since: "1.0.0", complexity: "O(N) where N is the total number of keys in all databases"},

		{name: "ping", arity: -1, run: cmdPing, flags: fast, categories: conn,
			group: "connection", summary: "Ping the server", since: "1.0.0", complexity: "O(1)"},
		{name: "echo", arity: 2, run: cmdEcho, flags: fast, categories: conn,
			group: "connection", summary: "Echo the given string", since: "1.0.0", complexity: "O(1)"},
		{name: "select", arity: 2, run: cmdSelect, flags: []string{"loading", "stale", "fast"}, categories: conn,
			group: "connection", summary: "Change the selected database for the current connection", since: "1.0.0", complexity: "O(1)"},
		{name: "quit", arity: -1, run: cmdQuit, flags: []string{"allow_busy", "fast"}, categories: conn,
			group: "connection", summary: "Close the connection", since: "1.0.0", complexity: "O(1)"},
		{name: "hello", arity: -1, run: cmdHello, flags: []string{"noscript", "loading", "stale", "fast"}, categories: conn,
			group: "connection", summary: "Handshake with Redis", since: "6.0.0", complexity: "O(1)"},
		{name: "info", arity: -1, run: cmdInfo, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@dangerous"},
			group: "server", summary: "Get information and statistics about the server", since: "1.0.0", complexity: "O(1)"},
		{name: "client", arity: -2, categories: []string{"@slow"}, group: "connection", summary: "A container for client connection commands", since: "2.4.0", complexity: "Depends on subcommand.",
			subs: subcommands("client",
				&command{name: "id", arity: 2, run: cmdClientID, flags: []string{"noscript", "loading", "stale"}, categories: conn,
					group: "connection", summary: "Returns the client ID for the current connection", since: "5.0.0", complexity: "O(1)"},
				&command{name: "info", arity: 2, run: cmdClientInfo, flags: []string{"noscript", "loading", "stale"}, categories: conn,
					group: "connection", summary: "Returns information about the current client connection.", since: "6.2.0", complexity: "O(1)"},
				&command{name: "setname", arity: 3, run: cmdClientSetName, flags: []string{"noscript", "loading", "stale"}, categories: conn,
					group: "connection", summary: "Set the current connection name", since: "2.6.9", complexity: "O(1)"},
				&command{name: "getname", arity: 2, run: cmdClientGetName, flags: []string{"noscript", "loading", "stale"}, categories: conn,
					group: "connection", summary: "Get the current connection name", since: "2.6.9", complexity: "O(1)"},
				&command{name: "help", arity: 2, run: cmdClientHelp, flags: []string{"loading", "stale"}, categories: conn,
					group: "connection", summary: "Show helpful text about the different subcommands", since: "5.0.0", complexity: "O(1)"},
			)},
		{name: "command", arity: -1, run: cmdCommandAll, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
			group: "server", summary: "Get array of Redis command details", since: "2.8.13", complexity: "O(N) where N is the total number of Redis commands",
			subs: subcommands("command",
				&command{name: "count", arity: 2, run: cmdCommandCount, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
					group: "server", summary: "Get total number of Redis commands", since: "2.8.13", complexity: "O(1)"},
				&command{name: "docs", arity: -2, run: cmdCommandDocs, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
					group: "server", summary: "Get array of specific Redis command documentation", since: "7.0.0", complexity: "O(N) where N is the number of commands to look up"},
				&command{name: "info", arity: -2, run: cmdCommandInfo, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
					group: "server", summary: "Get array of specific Redis command details, or all when no argument is given.", since: "2.8.13", complexity: "O(N) where N is the number of commands to look up"},
				&command{name: "list", arity: -2, run: cmdCommandList, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
					group: "server", summary: "Get an array of Redis command names", since: "7.0.0", complexity: "O(N) where N is the total number of Redis commands"},
				&command{name: "help", arity: 2, run: cmdCommandHelp, flags: []string{"loading", "stale"}, categories: []string{"@slow", "@connection"},
					group: "server", summary: "Show helpful text about the different subcommands", since: "5.0.0", complexity: "O(1)"},
			)},
		{name: "config", arity: -2, categories: []string{"@slow"}, group: "server", summary: "A container for server configuration commands", since: "2.0.0", complexity: "Depends on subcommand.",
			subs: subcommands("config",
				&command{name: "get", arity: -3, run: cmdConfigGet, flags: []string{"admin", "noscript", "loading", "stale"}, categories: []string{"@admin", "@slow", "@dangerous"},
					group: "server", summary: "Get the values of configuration parameters", since: "2.0.0", complexity: "O(N) when N is the number of configuration parameters provided"},
				&command{name: "help", arity: 2, run: cmdConfigHelp, flags: []string{"loading", "stale"}, categories: []string{"@slow"},
					group: "server", summary: "Show helpful text about the different subcommands", since: "5.0.0", complexity: "O(1)"},
			)},
	}
	for _, c := range list {
		c.fullname = c.name
	}
	return list
}

func subcommands(parent string, subs ...*command) *cmdTable {
	for _, s := range subs {
		s.fullname = parent + "|" + s.name
	}
	return newCmdTable(subs)
}

// exec runs one command, appending its reply to cl.out. It resolves
// subcommands and checks arity the way Redis does, with its wording.
func (h *kv) exec(cl *client, args [][]byte) {
	cl.stats.commands.Add(1)
	cmd := commands.lookup(args[0])
	if cmd == nil {
		cl.errUnknownCommand(args)
		return
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := cmd.subs.lookup(args[1])
		if sub == nil {
			cl.errUnknownSubcommand(strings.ToUpper(cmd.name), args[1])
			return
		}
		cmd = sub
	}
	if cmd.arity > 0 && len(args) != cmd.arity || len(args) < -cmd.arity {
		cl.errArity(cmd.fullname)
		return
	}
	cmd.run(h, cl, args)
}
