package codec

import (
	"math"
	"testing"
)

// TestRESPShortLength: wherever the fast path of the length parser takes
// a length line, it reads it as respLength does. Every line of 4 bytes
// over digits, CR, LF and a few other bytes, then one more byte.
func TestRESPShortLength(t *testing.T) {
	alphabet := []byte("0123456789\r\n-x")
	var buf [5]byte
	buf[4] = '$'
	taken := 0
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				for _, d := range alphabet {
					buf[0], buf[1], buf[2], buf[3] = a, b, c, d
					n, end := respShortLength(buf[:], 0)
					if end == 0 {
						continue
					}
					taken++
					wn, wend, err := respLength(buf[:], 0, math.MaxInt, true, errRESPBulkTooLarge, errRESPBulkLength)
					if n != wn || end != wend || err != nil {
						t.Fatalf("%q: fast path %d, %d; respLength %d, %d, %v", buf, n, end, wn, wend, err)
					}
				}
			}
		}
	}
	// "1\r\n" to "9\r\n" (then any byte) and "10\r\n" to "99\r\n".
	if want := 9*len(alphabet) + 90; taken != want {
		t.Fatalf("the fast path took %d lines, want %d", taken, want)
	}
	if _, end := respShortLength([]byte("3\r\n"), 0); end != 0 {
		t.Fatal("the fast path read past a buffer of 3 bytes")
	}
}
