package codec_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

type lfc = codec.LengthFieldConfig

func lf(cfg lfc) *codec.LengthField { return must(codec.NewLengthField(cfg)) }

// be64 is v as an 8-byte big-endian length field.
func be64(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }

func TestNewLengthField(t *testing.T) {
	runConfigCases(t, []configCase{
		{"size 1", errOf(codec.NewLengthField(lfc{Size: 1})), false},
		{"size 2", errOf(codec.NewLengthField(lfc{Size: 2})), false},
		{"size 3", errOf(codec.NewLengthField(lfc{Size: 3})), false},
		{"size 4", errOf(codec.NewLengthField(lfc{Size: 4})), false},
		{"size 8", errOf(codec.NewLengthField(lfc{Size: 8})), false},
		{"size 0", errOf(codec.NewLengthField(lfc{})), true},
		{"size 5", errOf(codec.NewLengthField(lfc{Size: 5})), true},
		{"size 16", errOf(codec.NewLengthField(lfc{Size: 16})), true},
		{"size -4", errOf(codec.NewLengthField(lfc{Size: -4})), true},
		{"negative offset", errOf(codec.NewLengthField(lfc{Size: 2, Offset: -1})), true},
		{"negative strip", errOf(codec.NewLengthField(lfc{Size: 2, Strip: -1})), true},
		{"negative max", errOf(codec.NewLengthField(lfc{Size: 2, MaxFrame: -1})), true},
		{"header is max", errOf(codec.NewLengthField(lfc{Size: 4, Offset: 4, MaxFrame: 8})), false},
		{"header above max", errOf(codec.NewLengthField(lfc{Size: 4, Offset: 5, MaxFrame: 8})), true},
		{"offset max int", errOf(codec.NewLengthField(lfc{Size: 8, Offset: math.MaxInt})), true},
		{"strip is max", errOf(codec.NewLengthField(lfc{Size: 1, Strip: 8, MaxFrame: 8})), false},
		{"strip above max", errOf(codec.NewLengthField(lfc{Size: 1, Strip: 9, MaxFrame: 8})), true},
		{"adjustment fills max", errOf(codec.NewLengthField(lfc{Size: 2, Adjustment: 6, MaxFrame: 8})), false},
		{"adjustment above max", errOf(codec.NewLengthField(lfc{Size: 2, Adjustment: 7, MaxFrame: 8})), true},
		{"adjustment max int", errOf(codec.NewLengthField(lfc{Size: 8, Adjustment: math.MaxInt})), true},
		{"adjustment -255 size 1", errOf(codec.NewLengthField(lfc{Size: 1, Adjustment: -255})), false},
		{"adjustment -256 size 1", errOf(codec.NewLengthField(lfc{Size: 1, Adjustment: -256})), true},
		{"adjustment -65536 size 2", errOf(codec.NewLengthField(lfc{Size: 2, Adjustment: -65536})), true},
		{"adjustment min int size 8", errOf(codec.NewLengthField(lfc{Size: 8, Adjustment: math.MinInt})), true},
		{"adjustment -max int size 8", errOf(codec.NewLengthField(lfc{Size: 8, Adjustment: -math.MaxInt})), false},
		{"max frame max int", errOf(codec.NewLengthField(lfc{Size: 8, MaxFrame: math.MaxInt, Adjustment: -5})), false},
	})
}

func TestNewLengthFieldErrorNamesTheField(t *testing.T) {
	_, err := codec.NewLengthField(lfc{Size: 5})
	if err == nil || !strings.Contains(err.Error(), "Size 5") {
		t.Errorf("error = %v; want one naming Size 5", err)
	}
}

func TestLengthFieldDecode(t *testing.T) {
	hello := "HELLO, WORLD"
	runDecodeCases(t, []decodeCase{
		// The seven examples of Netty's LengthFieldBasedFrameDecoder documentation.
		{"netty 1: 2 bytes, no strip", lf(lfc{Size: 2}), "\x00\x0c" + hello, "\x00\x0c" + hello, 14, nil},
		{"netty 2: 2 bytes, strip header", lf(lfc{Size: 2, Strip: 2}), "\x00\x0c" + hello, hello, 14, nil},
		{"netty 3: length counts the header", lf(lfc{Size: 2, Adjustment: -2}), "\x00\x0e" + hello, "\x00\x0e" + hello, 14, nil},
		{"netty 4: offset 2, 3 bytes", lf(lfc{Offset: 2, Size: 3}), "\xca\xfe\x00\x00\x0c" + hello, "\xca\xfe\x00\x00\x0c" + hello, 17, nil},
		{"netty 5: header after the length", lf(lfc{Size: 3, Adjustment: 2}), "\x00\x00\x0c\xca\xfe" + hello, "\x00\x00\x0c\xca\xfe" + hello, 17, nil},
		{"netty 6: offset 1, adj 1, strip 3", lf(lfc{Offset: 1, Size: 2, Adjustment: 1, Strip: 3}), "\xca\x00\x0c\xfe" + hello, "\xfe" + hello, 16, nil},
		{"netty 7: offset 1, adj -3, strip 3", lf(lfc{Offset: 1, Size: 2, Adjustment: -3, Strip: 3}), "\xca\x00\x10\xfe" + hello, "\xfe" + hello, 16, nil},

		// Sizes and byte orders.
		{"size 1", lf(lfc{Size: 1, Strip: 1}), "\x03abc", "abc", 4, nil},
		{"size 2 big", lf(lfc{Size: 2, Strip: 2}), "\x00\x03abc", "abc", 5, nil},
		{"size 2 little", lf(lfc{Size: 2, Strip: 2, LittleEndian: true}), "\x03\x00abc", "abc", 5, nil},
		{"size 3 big", lf(lfc{Size: 3, Strip: 3}), "\x00\x00\x03abc", "abc", 6, nil},
		{"size 3 little", lf(lfc{Size: 3, Strip: 3, LittleEndian: true}), "\x03\x00\x00abc", "abc", 6, nil},
		{"size 4 big", lf(lfc{Size: 4, Strip: 4}), "\x00\x00\x00\x03abc", "abc", 7, nil},
		{"size 4 little", lf(lfc{Size: 4, Strip: 4, LittleEndian: true}), "\x03\x00\x00\x00abc", "abc", 7, nil},
		{"size 8 big", lf(lfc{Size: 8, Strip: 8}), "\x00\x00\x00\x00\x00\x00\x00\x03abc", "abc", 11, nil},
		{"size 8 little", lf(lfc{Size: 8, Strip: 8, LittleEndian: true}), "\x03\x00\x00\x00\x00\x00\x00\x00abc", "abc", 11, nil},
		{"size 2 big, high byte", lf(lfc{Size: 2, Strip: 2}), "\x01\x00" + strings.Repeat("x", 256), strings.Repeat("x", 256), 258, nil},
		{"size 2 little, high byte", lf(lfc{Size: 2, Strip: 2, LittleEndian: true}), "\x00\x01" + strings.Repeat("x", 256), strings.Repeat("x", 256), 258, nil},
		{"size 3 big, every byte", lf(lfc{Size: 3}), "\x00\x00\x00", "\x00\x00\x00", 3, nil},
		{"size 3 little, high byte", lf(lfc{Size: 3, LittleEndian: true, MaxFrame: 1000}), "\x00\x00\x01", "", 0, codec.ErrFrameTooLarge},
		{"size 3 big, high byte", lf(lfc{Size: 3, Strip: 3}), "\x00\x01\x00" + strings.Repeat("y", 256), strings.Repeat("y", 256), 259, nil},

		// Offsets and strips.
		{"offset, strip 0", lf(lfc{Offset: 3, Size: 1}), "abc\x02xy", "abc\x02xy", 6, nil},
		{"offset, strip offset", lf(lfc{Offset: 3, Size: 1, Strip: 3}), "abc\x02xy", "\x02xy", 6, nil},
		{"offset, strip header", lf(lfc{Offset: 3, Size: 1, Strip: 4}), "abc\x02xy", "xy", 6, nil},
		{"strip into the body", lf(lfc{Size: 1, Strip: 2}), "\x02xy", "y", 3, nil},
		{"strip the whole frame", lf(lfc{Size: 1, Strip: 3}), "\x02xy", "", 3, nil},
		{"strip beyond the frame", lf(lfc{Size: 1, Strip: 4}), "\x02", "", 0, codec.ErrMalformed},
		{"little endian offset", lf(lfc{Offset: 1, Size: 2, LittleEndian: true, Strip: 3}), "\xff\x01\x00z", "z", 4, nil},

		// Adjustments.
		{"positive adjustment", lf(lfc{Size: 1, Adjustment: 2, Strip: 1}), "\x01abc", "abc", 4, nil},
		{"negative adjustment", lf(lfc{Size: 1, Adjustment: -1, Strip: 1}), "\x04abc", "abc", 4, nil},
		{"negative adjustment to zero", lf(lfc{Size: 1, Adjustment: -1, Strip: 1}), "\x01", "", 1, nil},
		{"negative adjusted length", lf(lfc{Size: 1, Adjustment: -2}), "\x01abc", "", 0, codec.ErrMalformed},
		{"length counts the frame, too short", lf(lfc{Size: 4, Adjustment: -4}), "\x00\x00\x00\x03", "", 0, codec.ErrMalformed},
		{"8 bytes, big negative adjustment", lf(lfc{Size: 8, Adjustment: -(1 << 30), Strip: 8}), be64(1<<30+2) + "ab", "ab", 10, nil},

		// Empty and partial input.
		{"empty input", lf(lfc{Size: 2}), "", "", 0, nil},
		{"partial length field", lf(lfc{Size: 4}), "\x00\x00\x00", "", 0, nil},
		{"partial offset", lf(lfc{Offset: 4, Size: 1}), "abc", "", 0, nil},
		{"partial body", lf(lfc{Size: 2, Strip: 2}), "\x00\x05hell", "", 0, nil},
		{"header only", lf(lfc{Size: 2, Strip: 2}), "\x00\x05", "", 0, nil},
		{"empty body", lf(lfc{Size: 2, Strip: 2}), "\x00\x00rest", "", 2, nil},
		{"next frame behind", lf(lfc{Size: 1, Strip: 1}), "\x02ab\x02cd", "ab", 3, nil},

		// Limits.
		{"frame at max", lf(lfc{Size: 1, Strip: 1, MaxFrame: 4}), "\x03abc", "abc", 4, nil},
		{"frame above max, header only", lf(lfc{Size: 1, MaxFrame: 4}), "\x04", "", 0, codec.ErrFrameTooLarge},
		{"default max, 16 MiB frame", lf(lfc{Size: 4}), "\x00\xff\xff\xfc", "", 0, nil},
		{"default max, 16 MiB + 1 frame", lf(lfc{Size: 4}), "\x00\xff\xff\xfd", "", 0, codec.ErrFrameTooLarge},
		{"max counts the adjustment", lf(lfc{Size: 1, Adjustment: 2, MaxFrame: 4}), "\x02", "", 0, codec.ErrFrameTooLarge},
		{"max counts the offset", lf(lfc{Offset: 2, Size: 1, MaxFrame: 4}), "ab\x02", "", 0, codec.ErrFrameTooLarge},
		{"8 bytes, all ones", lf(lfc{Size: 8, MaxFrame: math.MaxInt}), "\xff\xff\xff\xff\xff\xff\xff\xff", "", 0, codec.ErrFrameTooLarge},
		{"8 bytes, above max int", lf(lfc{Size: 8, MaxFrame: math.MaxInt, Adjustment: -5}), be64(math.MaxInt + 1), "", 0, codec.ErrFrameTooLarge},
		{"8 bytes little, above max int", lf(lfc{Size: 8, LittleEndian: true}), "\x00\x00\x00\x00\x00\x00\x00\x80", "", 0, codec.ErrFrameTooLarge},
		{"8 bytes, max int", lf(lfc{Size: 8, MaxFrame: math.MaxInt}), be64(math.MaxInt - 8), "", 0, nil},
	})
}

func TestLengthFieldAppendFrame(t *testing.T) {
	hello := "HELLO, WORLD"
	runEncodeCases(t, []encodeCase{
		{"size 1", lf(lfc{Size: 1, Strip: 1}), "abc", "\x03abc", nil},
		{"size 2 big", lf(lfc{Size: 2, Strip: 2}), "abc", "\x00\x03abc", nil},
		{"size 2 little", lf(lfc{Size: 2, Strip: 2, LittleEndian: true}), "abc", "\x03\x00abc", nil},
		{"size 3 big", lf(lfc{Size: 3, Strip: 3}), "abc", "\x00\x00\x03abc", nil},
		{"size 3 little", lf(lfc{Size: 3, Strip: 3, LittleEndian: true}), "abc", "\x03\x00\x00abc", nil},
		{"size 4 big", lf(lfc{Size: 4, Strip: 4}), "abc", "\x00\x00\x00\x03abc", nil},
		{"size 4 little", lf(lfc{Size: 4, Strip: 4, LittleEndian: true}), "abc", "\x03\x00\x00\x00abc", nil},
		{"size 8 big", lf(lfc{Size: 8, Strip: 8}), "abc", "\x00\x00\x00\x00\x00\x00\x00\x03abc", nil},
		{"size 8 little", lf(lfc{Size: 8, Strip: 8, LittleEndian: true}), "abc", "\x03\x00\x00\x00\x00\x00\x00\x00abc", nil},
		{"offset", lf(lfc{Offset: 2, Size: 1, Strip: 3}), "abc", "\x00\x00\x03abc", nil},
		{"length counts the header", lf(lfc{Size: 2, Adjustment: -2, Strip: 2}), hello, "\x00\x0e" + hello, nil},
		{"positive adjustment", lf(lfc{Size: 2, Adjustment: 2, Strip: 2}), hello, "\x00\x0a" + hello, nil},
		{"empty message", lf(lfc{Size: 2, Strip: 2}), "", "\x00\x00", nil},
		{"message at max", lf(lfc{Size: 1, Strip: 1, MaxFrame: 4}), "abc", "\x03abc", nil},
		{"message at the field's limit", lf(lfc{Size: 1, Strip: 1}), strings.Repeat("x", 255), "\xff" + strings.Repeat("x", 255), nil},

		{"message above max", lf(lfc{Size: 1, Strip: 1, MaxFrame: 4}), "abcd", "", codec.ErrMessageTooLarge},
		{"message above the field's limit", lf(lfc{Size: 1, Strip: 1}), strings.Repeat("x", 256), "", codec.ErrMessageTooLarge},
		{"negative adjustment, above the field's limit", lf(lfc{Size: 1, Strip: 1, Adjustment: -1}), strings.Repeat("x", 255), "", codec.ErrMessageTooLarge},
		{"message shorter than the adjustment", lf(lfc{Size: 1, Strip: 1, Adjustment: 4}), "abc", "", codec.ErrMalformed},
		{"strip 0 cannot encode", lf(lfc{Size: 2}), "abc", "", errors.ErrUnsupported},
		{"strip into the body cannot encode", lf(lfc{Size: 2, Strip: 3}), "abc", "", errors.ErrUnsupported},
	})
}

func TestLengthFieldRoundTrip(t *testing.T) {
	runRoundTrips(t, []roundTripCase{
		{"size 1", lf(lfc{Size: 1, Strip: 1}), "hello"},
		{"size 2 little", lf(lfc{Size: 2, Strip: 2, LittleEndian: true}), "hello"},
		{"size 3", lf(lfc{Size: 3, Strip: 3}), strings.Repeat("long ", 1000)},
		{"size 4 little", lf(lfc{Size: 4, Strip: 4, LittleEndian: true}), strings.Repeat("long ", 1000)},
		{"size 8", lf(lfc{Size: 8, Strip: 8}), "hello"},
		{"offset and adjustment", lf(lfc{Offset: 3, Size: 2, Strip: 5, Adjustment: -5}), "hello"},
		{"positive adjustment", lf(lfc{Size: 4, Strip: 4, Adjustment: 3}), "hello"},
		{"empty", lf(lfc{Size: 4, Strip: 4}), ""},
	})
}

func TestLengthFieldName(t *testing.T) {
	if got := lf(lfc{Size: 1}).Name(); got != "length-field" {
		t.Errorf("Name() = %q", got)
	}
}
