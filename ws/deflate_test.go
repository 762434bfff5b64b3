package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestDeflateOffer(t *testing.T) {
	for _, tc := range []struct {
		offer string
		ok    bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true}, // browsers' offer
		{"permessage-deflate; client_max_window_bits=10", true},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{`permessage-deflate; server_max_window_bits="15"`, true},
		{"Permessage-Deflate; Client_No_Context_Takeover", true},
		{"permessage-deflate; server_max_window_bits=10", false}, // flate's window is 15 bits
		{"permessage-deflate; server_max_window_bits", false},
		{"permessage-deflate; client_max_window_bits=16", false},
		{"permessage-deflate; client_max_window_bits=7", false},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", false},
		{"permessage-deflate; server_no_context_takeover=1", false},
		{"permessage-deflate; unknown", false},
		{"x-webkit-deflate-frame", false},
		{"", false},
	} {
		if got := deflateOfferOK([]byte(tc.offer)); got != tc.ok {
			t.Errorf("%q: %v, want %v", tc.offer, got, tc.ok)
		}
	}
}

// TestDeflateRoundTrip: what deflate makes, inflate gives back, for sizes
// around the pooled buffers' and flate's block boundaries.
func TestDeflateRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4 << 10, 4<<10 + 1, 70 << 10, 1 << 20} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * i >> 7) // compressible, not constant
		}
		for _, level := range []int{flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			z := deflate(nil, p, level)
			out, err := inflate(z, int64(n))
			if err != nil || !bytes.Equal(out, p) {
				t.Fatalf("%d bytes at level %d: %d bytes back, %v", n, level, len(out), err)
			}
		}
	}
}

// TestInflateLimits: a bomb (64 MiB of zeros in 64 KiB) fails as soon as
// its output passes the limit; corrupt data is 1007.
func TestInflateLimits(t *testing.T) {
	bomb := deflate(nil, make([]byte, 64<<20), flate.BestCompression)
	if len(bomb) > 128<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	if _, err := inflate(bomb, 1<<20); !errors.Is(err, ErrTooBig) {
		t.Fatalf("bomb: %v, want 1009", err)
	}
	if out, err := inflate(deflate(nil, make([]byte, 1<<20), 1), 1<<20); err != nil || len(out) != 1<<20 {
		t.Fatalf("exactly the limit: %d bytes, %v", len(out), err)
	}
	if _, err := inflate([]byte{0xff, 0xff, 0xff}, 1<<20); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("corrupt data: %v, want 1007", err)
	}
}

// FuzzInflate: any input decompresses or fails with a CloseError, never
// past the limit.
func FuzzInflate(f *testing.F) {
	f.Add(deflate(nil, []byte("hello hello hello"), 1))
	f.Add(deflate(nil, make([]byte, 10000), 9))
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, z []byte) {
		out, err := inflate(z, 4096)
		var ce *CloseError
		switch {
		case err != nil && !errors.As(err, &ce):
			t.Fatalf("error %v is not a CloseError", err)
		case len(out) > 4096:
			t.Fatalf("%d bytes past the limit", len(out))
		}
	})
}

func offerDeflate() http.Header {
	return http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}}
}

func dialDeflate(t *testing.T, url string) *Client {
	t.Helper()
	c := dialHeader(t, url, offerDeflate())
	if !c.Deflate {
		t.Fatal("permessage-deflate not negotiated")
	}
	return c
}

// TestDeflateEcho: compressed and uncompressed messages from a client that
// negotiated permessage-deflate are echoed; the server compresses what is
// long enough and sends short ones plain; a server without Compression
// does not negotiate.
func TestDeflateEcho(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, _, url := startEcho(t, e, Config{Compression: true})
			c := dialDeflate(t, url)
			long := strings.Repeat("the quick brown fox jumps over the lazy dog ", 1000)
			big := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 3<<20/7)
			for _, m := range []struct {
				op         Opcode
				p          []byte
				compressed bool
			}{
				{OpText, []byte("short"), true}, {OpText, []byte(long), true}, {OpBinary, big, true},
				{OpText, []byte(long), false}, {OpText, []byte{}, true}, {OpBinary, []byte{}, false},
			} {
				if m.compressed {
					c.WriteCompressed(m.op, m.p)
				} else {
					c.WriteMessage(m.op, m.p)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != m.op || !bytes.Equal(got, m.p) {
					t.Fatalf("%v %d bytes (compressed %v): got %v %d bytes, %v", m.op, len(m.p), m.compressed, op, len(got), err)
				}
				if wantZ := len(m.p) >= 128; c.rd.Deflated() != wantZ {
					t.Fatalf("%d-byte echo compressed: %v, want %v", len(m.p), c.rd.Deflated(), wantZ)
				}
			}
			_, _, plainURL := startEcho(t, e, Config{})
			if dialHeader(t, plainURL, offerDeflate()).Deflate {
				t.Fatal("negotiated without Config.Compression")
			}
		})
	}
}

// TestDeflateViolations: a bomb past MaxMessage is closed with 1009,
// compressed text that is not UTF-8 with 1007, RSV1 on a continuation or
// on a control frame with 1002, and other connections go on.
func TestDeflateViolations(t *testing.T) {
	for _, e := range testEngines() {
		t.Run(e.name, func(t *testing.T) {
			_, h, url := startEcho(t, e, Config{Compression: true, MaxMessage: 1 << 20})
			bystander := dialDeflate(t, url)
			for _, tc := range []struct {
				name  string
				frame func(c *Client)
				code  int
			}{
				{"bomb", func(c *Client) { c.WriteCompressed(OpBinary, make([]byte, 64<<20)) }, CloseTooBig},
				{"bad UTF-8", func(c *Client) { c.WriteCompressed(OpText, []byte{'a', 0xff, 'b'}) }, CloseInvalidPayload},
				{"corrupt", func(c *Client) { c.writeFrame(Header{Fin: true, Op: OpBinary, RSV: rsvDeflate}, []byte{0xff, 0xff}) }, CloseInvalidPayload},
				{"RSV1 on a continuation", func(c *Client) {
					c.WriteFrame(OpBinary, false, []byte{1})
					c.writeFrame(Header{Fin: true, Op: OpContinuation, RSV: rsvDeflate}, []byte{2})
				}, CloseProtocolError},
				{"RSV1 on a ping", func(c *Client) { c.writeFrame(Header{Fin: true, Op: OpPing, RSV: rsvDeflate}, nil) }, CloseProtocolError},
			} {
				c := dialDeflate(t, url)
				tc.frame(c)
				if _, _, err := c.ReadMessage(); err != io.EOF || c.Code != tc.code {
					t.Fatalf("%s: %v, close %d, want %d", tc.name, err, c.Code, tc.code)
				}
				if code := <-h.closes; code != tc.code {
					t.Fatalf("%s: OnClose code %d, want %d", tc.name, code, tc.code)
				}
				bystander.WriteCompressed(OpText, []byte(tc.name))
				if _, got, err := bystander.ReadMessage(); err != nil || string(got) != tc.name {
					t.Fatalf("bystander after %s: %q, %v", tc.name, got, err)
				}
			}
		})
	}
}
