package main

import (
	"strings"
	"testing"
	"time"
)

// The expectations follow Redis's stringmatchlen (util.c), quirks
// included; TestSameRepliesAsRedis checks many of them against a real
// redis-server through KEYS.
var globCases = []struct {
	pattern, s string
	want       bool
}{
	{"*", "", false}, // as in Redis: KEYS * and MATCH * do not call it
	{"a*", "a", true},
	{"*", "anything", true},
	{"", "", true},
	{"", "a", false},
	{"a", "a", true},
	{"a", "b", false},
	{"a*", "abc", true},
	{"*c", "abc", true},
	{"*b*", "abc", true},
	{"a*d", "abc", false},
	{"**", "x", true},
	{"a**", "a", true},
	{"?", "a", true},
	{"?", "", false},
	{"??", "a", false},
	{"h?llo", "hello", true},
	{"h[ae]llo", "hallo", true},
	{"h[ae]llo", "hillo", false},
	{"h[^e]llo", "hallo", true},
	{"h[^e]llo", "hello", false},
	{"h[a-b]llo", "hbllo", true},
	{"h[b-a]llo", "hallo", true}, // a backwards range
	{"h[a-b]llo", "hcllo", false},
	{`h[\]]llo`, "h]llo", true},
	{`h[\-]llo`, "h-llo", true},
	{"[abc", "a", true}, // an unterminated class ends with the pattern
	{"[abc", "ab", false},
	{"[", "a", false},
	{"[^", "a", true},
	{"[]", "a", false},
	{"[]]", "]", false},
	{"a[", "a", false},
	{`a\*b`, "a*b", true},
	{`a\*b`, "axb", false},
	{`a\`, "a\\", true},
	{`\`, "\\", true},
	{`\a`, "a", true},
	{"[a-]", "-", false},
	{"[a-]", "a", true},
	{"[\x80-\xff]", "\x90", true}, // bytes compare as C's signed char
	{"[\x01-\x80]", "\x7f", false},
	{"[\x80-\x01]", "\x7f", false},
	{"[\x80-\x01]", "\x00", true},
	{"user:*", "user:", true},
	{"user:?*", "user:", false},
}

func TestMatchGlob(t *testing.T) {
	for _, tc := range globCases {
		if got := matchGlob([]byte(tc.pattern), []byte(tc.s)); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestMatchGlobHostile: a pattern built to backtrack takes polynomial
// time, as in Redis, not exponential.
func TestMatchGlobHostile(t *testing.T) {
	p := []byte(strings.Repeat("*a", 30) + "b")
	s := []byte(strings.Repeat("a", 300))
	start := time.Now()
	if matchGlob(p, s) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	deep := []byte(strings.Repeat("*x", 2000))
	if matchGlob(deep, []byte(strings.Repeat("x", 3000))) {
		t.Fatal("a pattern nested past 1000 levels matched") // Redis gives up there too
	}
}
