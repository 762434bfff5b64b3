package ws

import (
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"sync"

	"github.com/shoalnet/shoal/http1"
	"github.com/shoalnet/shoal/internal/bufpool"
)

// permessage-deflate (RFC 7692), always without context takeover on both
// sides: every message is compressed and decompressed on its own, so a
// connection holds no compression window between messages (an idle
// connection keeps nothing), and the compressors and decompressors are
// pooled across connections. compress/flate is the implementation; its
// window is always 32 KiB, so an offer that limits the server's window
// (server_max_window_bits below 15) is declined.

// deflateResponse is the extension the server answers an accepted offer
// with: no context takeover either way (RFC 7692 7.1.1: the server may add
// both parameters to any offer).
const deflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// deflateTail ends a message's compressed bytes for the decompressor: the
// 00 00 FF FF the sender removed (RFC 7692 7.2.2), then an empty final
// stored block, so that the stream ends with io.EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// acceptsDeflate reports whether r offers permessage-deflate with
// parameters the server can honour (the first such offer is taken; the
// others are alternatives, RFC 7692 5).
func acceptsDeflate(r *http1.Request) bool {
	for _, f := range r.Headers {
		if !bytes.EqualFold(f.Name, []byte("Sec-WebSocket-Extensions")) {
			continue
		}
		for offer := range bytes.SplitSeq(f.Value, []byte(",")) {
			if deflateOfferOK(offer) {
				return true
			}
		}
	}
	return false
}

// deflateOfferOK checks one offer: "permessage-deflate" and parameters,
// each known, at most once, with a valid value.
func deflateOfferOK(offer []byte) bool {
	params := bytes.Split(offer, []byte(";"))
	if !bytes.EqualFold(bytes.TrimSpace(params[0]), []byte("permessage-deflate")) {
		return false
	}
	var seen [4]bool
	for _, p := range params[1:] {
		name, value, hasValue := bytes.Cut(p, []byte("="))
		name = bytes.TrimSpace(name)
		value = bytes.Trim(bytes.TrimSpace(value), `"`)
		var i int
		switch string(bytes.ToLower(name)) {
		case "server_no_context_takeover":
			i = 0
		case "client_no_context_takeover":
			i = 1
		case "server_max_window_bits":
			// compress/flate's window is 32 KiB: a smaller one cannot
			// be honoured.
			if bits, err := strconv.Atoi(string(value)); !hasValue || err != nil || bits != 15 {
				return false
			}
			i = 2
		case "client_max_window_bits":
			if hasValue {
				if bits, err := strconv.Atoi(string(value)); err != nil || bits < 8 || bits > 15 {
					return false
				}
			}
			i = 3
		default:
			return false
		}
		if seen[i] || (i < 2 && hasValue) {
			return false
		}
		seen[i] = true
	}
	return true
}

// source feeds a decompressor one message's bytes and the tail, as an
// io.ByteReader (so that flate reads it without a bufio.Reader of its own).
type source struct {
	p    []byte
	tail []byte
}

func (s *source) Read(b []byte) (int, error) {
	if len(s.p) == 0 {
		s.p, s.tail = s.tail, nil
		if len(s.p) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(b, s.p)
	s.p = s.p[n:]
	return n, nil
}

func (s *source) ReadByte() (byte, error) {
	if len(s.p) == 0 {
		s.p, s.tail = s.tail, nil
		if len(s.p) == 0 {
			return 0, io.EOF
		}
	}
	b := s.p[0]
	s.p = s.p[1:]
	return b, nil
}

type inflater struct {
	src source
	r   io.ReadCloser
}

var inflaters = sync.Pool{New: func() any {
	f := &inflater{}
	f.r = flate.NewReader(&f.src)
	return f
}}

// errBomb is why a compressed message that inflates past the message
// limit closes its connection.
var errBomb error = &CloseError{Code: CloseTooBig, Reason: "decompressed message over the size limit"}

// inflate decompresses one message's payload into a buffer from bufpool
// (the caller puts it back), failing with 1009 as soon as the output
// passes limit: a decompression bomb costs at most limit bytes.
func inflate(p []byte, limit int64) ([]byte, error) {
	f := inflaters.Get().(*inflater)
	defer inflaters.Put(f)
	f.src = source{p: p, tail: deflateTail}
	f.r.(flate.Resetter).Reset(&f.src, nil)
	out := bufpool.Get(min(max(2*len(p), 4<<10), int(limit)+1))
	for {
		if len(out) == cap(out) {
			if int64(len(out)) > limit {
				bufpool.Put(out)
				return nil, errBomb
			}
			grown := append(bufpool.Get(min(2*cap(out), int(limit)+1)), out...)
			bufpool.Put(out)
			out = grown
		}
		n, err := f.r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			bufpool.Put(out)
			return nil, &CloseError{Code: CloseInvalidPayload, Reason: "bad compressed data"}
		}
	}
	if int64(len(out)) > limit {
		bufpool.Put(out)
		return nil, errBomb
	}
	return out, nil
}

// appendWriter is the io.Writer a compressor writes into.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type deflater struct {
	out appendWriter
	w   *flate.Writer
}

// deflaters pool compressors per level (flate.HuffmanOnly .. flate.BestCompression).
var deflaters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// deflate appends p compressed at level, without the final 00 00 FF FF,
// to dst (RFC 7692 7.2.1).
func deflate(dst, p []byte, level int) []byte {
	pool := &deflaters[level-flate.HuffmanOnly]
	d, _ := pool.Get().(*deflater)
	if d == nil {
		d = &deflater{}
		d.w, _ = flate.NewWriter(&d.out, level)
	}
	d.out.b = dst
	d.w.Reset(&d.out)
	d.w.Write(p)
	d.w.Flush()
	out := d.out.b
	d.out.b = nil
	pool.Put(d)
	return out[:len(out)-4] // Flush ends with an empty stored block: 00 00 FF FF
}
