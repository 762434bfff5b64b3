package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// utf8Seq is one payload of the UTF-8 cases and whether it is valid.
type utf8Seq struct {
	valid bool
	p     []byte
}

type utf8Group struct {
	name string
	seqs []utf8Seq
}

// utf8Groups are the sequences of Autobahn's cases 6.5 to 6.23, in its
// order: those of Markus Kuhn's UTF-8 decoder test, plus the prefixes of a
// valid string, the non-characters and the specials.
func utf8Groups() []utf8Group {
	all := func(valid bool, ss ...string) []utf8Seq {
		var out []utf8Seq
		for _, s := range ss {
			out = append(out, utf8Seq{valid, []byte(s)})
		}
		return out
	}
	const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

	var prefixes []utf8Seq
	for i := 1; i <= len(kosme); i++ {
		prefixes = append(prefixes, utf8Seq{utf8.ValidString(kosme[:i]), []byte(kosme[:i])})
	}
	var continuations []byte // 0x80 to 0xBE
	for b := 0x80; b < 0xbf; b++ {
		continuations = append(continuations, byte(b))
	}
	var lonely []utf8Seq
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for b := r[0]; b < r[1]; b++ {
			s = append(s, byte(b), ' ')
		}
		lonely = append(lonely, utf8Seq{false, s})
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var concat string
	for _, s := range missing {
		concat += s
	}
	nonChars := all(true, "\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f { // above U+10FFFF
				continue
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f { // overlong
					continue
				}
				nonChars = append(nonChars, utf8Seq{true, []byte{z1, z2, 0xbf, z3}})
			}
		}
	}

	return []utf8Group{
		{"valid sequences", all(true, "hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme)},
		{"prefixes of a valid string with multi-byte code points", prefixes},
		{"first sequence of each length", all(true, "\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"first sequence of length 5 and 6 (invalid code points)", all(false, "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"last sequence of each length", all(true, "\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"last sequence of length 4, 5 and 6 (invalid code points)", all(false, "\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"other boundary conditions", append(all(true, "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), all(false, "\xf4\x90\x80\x80")...)},
		{"unexpected continuation bytes", append(all(false, "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80",
			"\x80\xbf\x80\xbf\x80\xbf"), utf8Seq{false, continuations})},
		{"lonely start bytes", lonely},
		{"sequences with the last continuation byte missing", all(false, missing...)},
		{"concatenation of incomplete sequences", all(false, concat)},
		{"impossible bytes", all(false, "\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"overlong ASCII", all(false, "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"maximum overlong sequences", all(false, "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"overlong NUL", all(false, "\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"single UTF-16 surrogates", all(false, "\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"paired UTF-16 surrogates", all(false, "\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"non-characters (valid UTF-8)", nonChars},
		{"Unicode specials", all(true, "\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
}

// TestAutobahnUTF8Sequences checks the table of the UTF-8 cases: as many
// as Autobahn has in each group, each marked valid exactly when it is.
func TestAutobahnUTF8Sequences(t *testing.T) {
	sizes := []int{5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7}
	groups := utf8Groups()
	if len(groups) != len(sizes) {
		t.Fatalf("%d groups, want %d", len(groups), len(sizes))
	}
	for i, g := range groups {
		if len(g.seqs) != sizes[i] {
			t.Errorf("6.%d (%s): %d sequences, want %d", 5+i, g.name, len(g.seqs), sizes[i])
		}
		for k, s := range g.seqs {
			if utf8.Valid(s.p) != s.valid {
				t.Errorf("6.%d.%d % x: marked valid=%v", 5+i, k+1, s.p, s.valid)
			}
		}
	}
}

// TestAutobahnCaseTable checks the case table against the suite's: as
// many cases in each section, each id once.
func TestAutobahnCaseTable(t *testing.T) {
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, c := range autobahnCases() {
		if c.supplementary {
			continue
		}
		if seen[c.id] {
			t.Errorf("case %s twice", c.id)
		}
		seen[c.id] = true
		sec, _, _ := strings.Cut(c.id, ".")
		got[sec]++
	}
	for sec, n := range want {
		if got[sec] != n {
			t.Errorf("section %s: %d cases, want %d", sec, got[sec], n)
		}
	}
	if len(seen) != 301 {
		t.Errorf("%d cases, want 301", len(seen))
	}
}
