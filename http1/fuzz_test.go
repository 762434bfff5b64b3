package http1

import (
	"strings"
	"testing"
)

// FuzzParse: a stream of requests decodes the same whole, a byte at a
// time, and split in two anywhere; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
		"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"\r\nGET / HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 1\n\nx",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxRequestLine: 64, MaxHeaderBytes: 256, MaxHeaders: 8, MaxBody: 128}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := transcript([][]byte{in}, lim)
		if got := transcript(bytewise(string(in)), lim); got != want {
			t.Fatalf("byte by byte:\n%s\nwhole:\n%s", got, want)
		}
		if len(in) > 1024 {
			return
		}
		for i := 1; i < len(in); i++ {
			if got := transcript([][]byte{in[:i], in[i:]}, lim); got != want {
				t.Fatalf("split at %d:\n%s\nwhole:\n%s", i, got, want)
			}
		}
	})
}
