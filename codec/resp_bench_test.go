package codec_test

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/shoalnet/shoal/codec"
)

// The benchmarks decode a pipelined batch of requests, as a server's read
// buffer holds them, next to a standard-library baseline that reads the
// same requests the usual way: a bufio.Reader, ReadSlice lines and
// strconv.Atoi lengths.

func respBatch(cmd string, n int) []byte {
	return bytes.Repeat([]byte(cmd), n)
}

var (
	respSet  = "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"
	respMSet = "*21\r\n$4\r\nMSET\r\n" + string(bytes.Repeat([]byte("$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"), 10))
)

func benchmarkRESP(b *testing.B, batch []byte) {
	r := codec.NewRESP(codec.RESPConfig{})
	args := make([][]byte, 0, 32)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		buf := batch
		for len(buf) > 0 {
			frame, n, err := r.Decode(buf)
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
			if args, err = codec.ParseCommand(frame, args[:0]); err != nil {
				b.Fatal(err)
			}
			buf = buf[n:]
		}
	}
}

func benchmarkBufio(b *testing.B, batch []byte) {
	rd := bytes.NewReader(batch)
	br := bufio.NewReaderSize(rd, 64<<10)
	args := make([][]byte, 0, 32)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(batch)
		br.Reset(rd)
		for {
			line, err := br.ReadSlice('\n')
			if err == io.EOF {
				break
			}
			n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
			args = args[:0]
			for range n {
				line, _ = br.ReadSlice('\n')
				l, _ := strconv.Atoi(string(line[1 : len(line)-2]))
				arg := make([]byte, l+2) // bufio's slices do not outlive the next read
				io.ReadFull(br, arg)
				args = append(args, arg[:l])
			}
		}
	}
}

func BenchmarkRESPSet(b *testing.B)       { benchmarkRESP(b, respBatch(respSet, 16)) }
func BenchmarkRESPSetBufio(b *testing.B)  { benchmarkBufio(b, respBatch(respSet, 16)) }
func BenchmarkRESPMSet(b *testing.B)      { benchmarkRESP(b, respBatch(respMSet, 16)) }
func BenchmarkRESPMSetBufio(b *testing.B) { benchmarkBufio(b, respBatch(respMSet, 16)) }
func BenchmarkRESPInline(b *testing.B)    { benchmarkRESP(b, respBatch("PING\r\n", 16)) }
func BenchmarkRESPLargeBulk(b *testing.B) {
	benchmarkRESP(b, []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$65536\r\n"+string(make([]byte, 65536))+"\r\n"))
}

// BenchmarkRESPPartialArray is the cost of the stateless design: Decode on
// a large array that has not all arrived scans it again on each call.
func BenchmarkRESPPartialArray(b *testing.B) {
	r := codec.NewRESP(codec.RESPConfig{})
	buf := []byte("*10001\r\n" + string(bytes.Repeat([]byte("$3\r\nabc\r\n"), 10000)))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := r.Decode(buf); n != 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkRESPReply(b *testing.B) {
	r := codec.NewRESP(codec.RESPConfig{})
	reply := []byte("*4\r\n$5\r\nhello\r\n$-1\r\n:42\r\n*2\r\n+OK\r\n_\r\n")
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := r.Decode(reply); n != len(reply) || err != nil {
			b.Fatal(n, err)
		}
	}
}
