package main

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalnet/shoal/examples/internal/proctest"
)

// proc is a running http example binary.
type proc struct {
	*proctest.Proc
	addr  string // the HTTP listener
	admin string // the admin listener
}

// startBinary builds the example once, runs it on 127.0.0.1:0 with the
// admin endpoints on 127.0.0.1:0 and args after them, and waits until it
// listens; it is killed when the test ends, if still running.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	p := proctest.Start(t, proctest.Build(t, "."), []string{"http server listening", "admin endpoints listening"},
		append([]string{"-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, args...)...)
	return &proc{Proc: p, addr: p.Addrs["http server listening"], admin: p.Addrs["admin endpoints listening"]}
}

// bytesRead returns the server's shoal_read_bytes_total over all loops,
// from its /metrics.
func (p *proc) bytesRead(t *testing.T) uint64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var total uint64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "shoal_read_bytes_total{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += uint64(f)
	}
	io.Copy(io.Discard, resp.Body)
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// waitBytesRead waits until the server has read at least n bytes from its
// connections; the guard only stops a hung test.
func (p *proc) waitBytesRead(t *testing.T, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := p.bytesRead(t)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server read %d bytes, want %d", got, n)
		}
	}
}
