package codec_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// The benchmarks decode a batch of 64-byte messages as a server's read
// buffer holds them, next to a standard-library baseline that reads the
// same stream the usual way (bufio.Reader with io.ReadFull, bufio.Scanner,
// encoding/json).

const benchMessages = 100

var benchMsg = bytes.Repeat([]byte("x"), 64)

// benchJSON is a small message of the kind a push gateway sends.
type benchJSON struct {
	Topic string   `json:"topic"`
	Seq   int64    `json:"seq"`
	Body  string   `json:"body"`
	Tags  []string `json:"tags"`
}

var benchValue = benchJSON{Topic: "room.42", Seq: 1234567, Body: "hello, world: a message of modest size", Tags: []string{"a", "bb"}}

// benchBatch frames benchMessages copies of msg with enc.
func benchBatch(b *testing.B, enc codec.Encoder, msg []byte) []byte {
	var batch []byte
	for range benchMessages {
		var err error
		if batch, err = enc.AppendFrame(batch, msg); err != nil {
			b.Fatal(err)
		}
	}
	return batch
}

// benchmarkDecode decodes batch frame by frame.
func benchmarkDecode(b *testing.B, dec codec.Decoder, batch []byte) {
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		buf := batch
		for len(buf) > 0 {
			_, n, err := dec.Decode(buf)
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
			buf = buf[n:]
		}
	}
}

func BenchmarkLengthFieldDecode(b *testing.B) {
	l := lf(lfc{Size: 4, Strip: 4})
	benchmarkDecode(b, l, benchBatch(b, l, benchMsg))
}

// BenchmarkLengthFieldStdReadFull is the baseline: a 4-byte big-endian
// length then io.ReadFull, through a bufio.Reader.
func BenchmarkLengthFieldStdReadFull(b *testing.B) {
	batch := benchBatch(b, lf(lfc{Size: 4, Strip: 4}), benchMsg)
	rd := bytes.NewReader(batch)
	br := bufio.NewReaderSize(rd, 64<<10)
	var hdr [4]byte
	msg := make([]byte, 0, 1<<10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(batch)
		br.Reset(rd)
		for {
			if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
				break
			}
			n := binary.BigEndian.Uint32(hdr[:])
			msg = msg[:n]
			if _, err := io.ReadFull(br, msg); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkLineDecode(b *testing.B) {
	l := line("", 0)
	benchmarkDecode(b, l, benchBatch(b, l, benchMsg))
}

func BenchmarkLineCRLFDecode(b *testing.B) {
	l := crlf(0)
	benchmarkDecode(b, l, benchBatch(b, l, benchMsg))
}

// BenchmarkLineStdScanner is the baseline: bufio.Scanner with ScanLines.
func BenchmarkLineStdScanner(b *testing.B) {
	batch := benchBatch(b, line("", 0), benchMsg)
	rd := bytes.NewReader(batch)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(batch)
		sc := bufio.NewScanner(rd)
		sc.Buffer(buf, len(buf))
		for sc.Scan() {
		}
	}
}

func BenchmarkFixedDecode(b *testing.B) {
	f := fixed(len(benchMsg))
	benchmarkDecode(b, f, benchBatch(b, f, benchMsg))
}

func BenchmarkJSONDecode(b *testing.B) {
	j := codec.NewJSON(line("", 0), 0)
	msg, err := json.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkDecode(b, j, benchBatch(b, j, msg))
}

// BenchmarkJSONStdScannerValid is the baseline: bufio.Scanner lines
// checked with encoding/json.Valid.
func BenchmarkJSONStdScannerValid(b *testing.B) {
	msg, err := json.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(b, line("", 0), msg)
	rd := bytes.NewReader(batch)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(batch)
		sc := bufio.NewScanner(rd)
		sc.Buffer(buf, len(buf))
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				b.Fatal("invalid")
			}
		}
	}
}

func BenchmarkJSONUnmarshal(b *testing.B) {
	j := codec.NewJSON(nil, 0)
	msg, err := json.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var v benchJSON
		if err := j.Unmarshal(msg, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONStdUnmarshal is the baseline for BenchmarkJSONUnmarshal.
func BenchmarkJSONStdUnmarshal(b *testing.B) {
	msg, err := json.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var v benchJSON
		if err := json.Unmarshal(msg, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONAppendMessage(b *testing.B) {
	j := codec.NewJSON(lf(lfc{Size: 4, Strip: 4}), 0)
	dst := make([]byte, 0, 1<<10)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = j.AppendMessage(dst[:0], &benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}

// BenchmarkJSONStdMarshalAppendFrame is the baseline: encoding/json.Marshal,
// then the length prefix and a copy.
func BenchmarkJSONStdMarshalAppendFrame(b *testing.B) {
	l := lf(lfc{Size: 4, Strip: 4})
	dst := make([]byte, 0, 1<<10)
	b.ReportAllocs()
	for b.Loop() {
		msg, err := json.Marshal(&benchValue)
		if err != nil {
			b.Fatal(err)
		}
		if dst, err = l.AppendFrame(dst[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}

func BenchmarkAppendFrame(b *testing.B) {
	cases := []struct {
		name string
		enc  codec.Encoder
	}{
		{"length-field", lf(lfc{Size: 4, Strip: 4})},
		{"line", line("", 0)},
		{"line-crlf", crlf(0)},
		{"fixed", fixed(len(benchMsg))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			dst := make([]byte, 0, 1<<10)
			b.SetBytes(int64(len(benchMsg)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = tc.enc.AppendFrame(dst[:0], benchMsg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
