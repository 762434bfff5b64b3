package codec_test

import (
	"testing"

	"github.com/shoalnet/shoal/codec"
)

func fixed(size int) *codec.Fixed { return must(codec.NewFixed(size)) }

func TestNewFixed(t *testing.T) {
	runConfigCases(t, []configCase{
		{"size 1", errOf(codec.NewFixed(1)), false},
		{"size 4096", errOf(codec.NewFixed(4096)), false},
		{"size 0", errOf(codec.NewFixed(0)), true},
		{"size -1", errOf(codec.NewFixed(-1)), true},
	})
}

func TestFixedDecode(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{"exact", fixed(4), "abcd", "abcd", 4, nil},
		{"more behind", fixed(4), "abcdef", "abcd", 4, nil},
		{"partial", fixed(4), "abc", "", 0, nil},
		{"empty input", fixed(4), "", "", 0, nil},
		{"size 1", fixed(1), "xy", "x", 1, nil},
	})
}

func TestFixedAppendFrame(t *testing.T) {
	runEncodeCases(t, []encodeCase{
		{"exact", fixed(4), "abcd", "abcd", nil},
		{"short", fixed(4), "abc", "", codec.ErrMalformed},
		{"long", fixed(4), "abcde", "", codec.ErrMalformed},
		{"empty", fixed(4), "", "", codec.ErrMalformed},
	})
}

func TestFixedRoundTrip(t *testing.T) {
	runRoundTrips(t, []roundTripCase{
		{"size 4", fixed(4), "abcd"},
		{"size 1", fixed(1), "\x00"},
	})
}

func TestFixedName(t *testing.T) {
	if got := fixed(1).Name(); got != "fixed" {
		t.Errorf("Name() = %q", got)
	}
}
