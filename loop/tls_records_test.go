package loop

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"reflect"
	"testing"
	"time"
)

// boundaries returns where the records of stream end, read whole: the
// offsets after each record (a last record the stream ends inside counts
// as ending with the stream).
func boundaries(stream []byte) []int {
	var ends []int
	for off := 0; off < len(stream); {
		end := len(stream)
		if off+recordHeader <= len(stream) {
			end = min(len(stream), off+recordHeader+int(binary.BigEndian.Uint16(stream[off+3:])))
		}
		ends = append(ends, end)
		off = end
	}
	return ends
}

// spanAll feeds stream to a records in the pieces that cuts make, each
// piece handed over as Read would (one span at a time), and returns the
// offsets where the spans ended.
func spanAll(stream []byte, cuts []int) []int {
	var r records
	var ends []int
	off := 0
	feed := func(p []byte) {
		for len(p) > 0 {
			n := r.span(p)
			if n == 0 {
				panic("span handed over nothing")
			}
			p = p[n:]
			off += n
			if r.left == 0 && r.nh == 0 {
				ends = append(ends, off)
			}
		}
	}
	prev := 0
	for _, c := range cuts {
		feed(stream[prev:c])
		prev = c
	}
	feed(stream[prev:])
	if len(ends) == 0 || ends[len(ends)-1] != len(stream) {
		ends = append(ends, len(stream)) // the stream ends inside a record
	}
	return ends
}

func recordStream(sizes ...int) []byte {
	var s []byte
	for i, n := range sizes {
		s = append(s, 23, 3, 3, byte(n>>8), byte(n))
		s = append(s, bytes.Repeat([]byte{byte(i)}, n)...)
	}
	return s
}

// TestRecordsSpan: however the stream is cut, every span ends at or before
// the end of its record, and the spans end where the records end.
func TestRecordsSpan(t *testing.T) {
	stream := recordStream(0, 1, 4, 5, 300, 16<<10+256, 2)
	want := boundaries(stream)
	for a := 0; a <= len(stream); a += 7 {
		for _, b := range []int{a, a + 1, a + 3, a + 4, a + 5, a + 600} {
			if b > len(stream) {
				continue
			}
			cuts := []int{a, b}
			if got := spanAll(stream, cuts); !reflect.DeepEqual(got, want) {
				t.Fatalf("cuts %v: spans end at %v, records at %v", cuts, got, want)
			}
		}
	}
	// One byte at a time.
	cuts := make([]int, 0, len(stream))
	for i := 1; i < len(stream); i++ {
		cuts = append(cuts, i)
	}
	if got := spanAll(stream, cuts); !reflect.DeepEqual(got, want) {
		t.Fatalf("byte by byte: spans end at %v, records at %v", got, want)
	}
}

// FuzzRecordsSpan: any bytes, cut anywhere, span like the whole stream.
func FuzzRecordsSpan(f *testing.F) {
	f.Add(recordStream(3, 0, 40), uint16(2), uint16(9))
	f.Add([]byte{22, 3, 1, 0xff, 0xff, 1}, uint16(4), uint16(5))
	f.Fuzz(func(t *testing.T, stream []byte, a, b uint16) {
		x, y := min(int(a), len(stream)), min(int(b), len(stream))
		if x > y {
			x, y = y, x
		}
		want := boundaries(stream)
		if len(stream) == 0 {
			want = []int{0}
		}
		if got := spanAll(stream, []int{x, y}); !reflect.DeepEqual(got, want) {
			t.Fatalf("cuts %d, %d: spans end at %v, records at %v", x, y, got, want)
		}
	})
}

// TestSplitHello: the first record comes out as handshake records of at
// most helloPiece bytes of equal size but the last, with the same bytes
// in the same order, and what followed it is untouched.
func TestSplitHello(t *testing.T) {
	rest := []byte{20, 3, 3, 0, 1, 1}
	for _, size := range []int{0, 1, 511, 512, 513, 1024, 1500, 1537, 2000, 5000, 16 << 10} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		in := append(append([]byte{22, 3, 1, byte(size >> 8), byte(size)}, body...), rest...)
		out := splitHello(bytes.Clone(in), size)
		var got []byte
		var pieces []int
		p := out
		for len(p) > len(rest) {
			if p[0] != 22 || p[1] != 3 || p[2] != 1 {
				t.Fatalf("size %d: record header % x", size, p[:3])
			}
			n := int(p[3])<<8 | int(p[4])
			if n > helloPiece && size > helloPiece {
				t.Fatalf("size %d: a record of %d bytes", size, n)
			}
			got = append(got, p[5:5+n]...)
			pieces = append(pieces, n)
			p = p[5+n:]
		}
		if !bytes.Equal(got, body) || !bytes.Equal(p, rest) {
			t.Fatalf("size %d: the bytes changed", size)
		}
		for _, n := range pieces[:len(pieces)-1] {
			if n != pieces[0] || n == 0 {
				t.Fatalf("size %d: pieces %v", size, pieces)
			}
		}
	}
}

// bufferCap reads the capacity of a bytes.Buffer field of a tls.Conn (its
// raw input, its handshake buffer), or -1 where this Go's crypto/tls has
// no such field.
func bufferCap(tc *tls.Conn, field string) int {
	f := reflect.ValueOf(tc).Elem().FieldByName(field)
	if !f.IsValid() || f.Type() != reflect.TypeFor[bytes.Buffer]() {
		return -1
	}
	return f.FieldByName("buf").Cap()
}

// TestTLSIdleBuffers: an idle connection's tls.Conn, after a handshake
// with a post-quantum key share (a ClientHello of about 1.5 KiB) and a
// small exchange, keeps a raw input of one 576-byte buffer and a
// handshake buffer the size of the ClientHello, on both engines. A record
// the client sends later of nearly 16 KiB grows the raw input to hold it
// once, not more.
func TestTLSIdleBuffers(t *testing.T) {
	for _, e := range engines() {
		opened := make(chan *tls.Conn, 1)
		h := &tlsInspect{opened: opened}
		_, addr, pool := newTLSGroup(t, h, e, nil)
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"}) // with SNI, as browsers send it
		if err != nil {
			t.Fatal(err)
		}
		exchange := func(n int) {
			t.Helper()
			msg := bytes.Repeat([]byte{'x'}, n)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
				t.Fatalf("engine %v: echo of %d: %v", e, n, err)
			}
		}
		exchange(64)
		if tc := <-opened; bufferCap(tc, "rawInput") < 0 || bufferCap(tc, "hand") < 0 {
			t.Skip("this Go's tls.Conn has no rawInput or hand buffer")
		}
		raw, hand := h.caps()
		if raw > 576 {
			t.Errorf("engine %v: raw input of %d bytes after the handshake and 64 bytes", e, raw)
		}
		if hand > 2048 {
			t.Errorf("engine %v: handshake buffer of %d bytes", e, hand)
		}
		exchange(16000) // one record of 16,000 bytes and its overhead
		raw, _ = h.caps()
		if raw > 16<<10+1024 {
			t.Errorf("engine %v: raw input of %d bytes after a 16,000-byte record", e, raw)
		}
		c.Close()
	}
}

// tlsInspect echoes and reads its connection's tls.Conn buffers on the
// loop, where the tls.Conn is the loop's.
type tlsInspect struct {
	tlsEcho
	opened chan *tls.Conn
	conn   Conn
}

func (h *tlsInspect) OnOpen(c Conn) {
	h.conn = c
	h.opened <- c.(*conn).tlsOf().tc
}

func (h *tlsInspect) caps() (raw, hand int) {
	h.conn.Loop().Submit(context.Background(), func() {
		tc := h.conn.(*conn).tlsOf().tc
		raw, hand = bufferCap(tc, "rawInput"), bufferCap(tc, "hand")
	})
	return raw, hand
}
