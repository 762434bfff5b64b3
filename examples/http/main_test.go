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

// bytesRead returns the server's shoal_read_bytes_total of each loop, by
// the loop label, from its /metrics.
func (p *proc) bytesRead(t *testing.T) map[string]uint64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loops := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `shoal_read_bytes_total{loop="`)
		if !ok {
			continue
		}
		loop, value, _ := strings.Cut(rest, `"} `)
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		loops[loop] = uint64(f)
	}
	io.Copy(io.Discard, resp.Body)
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return loops
}

// loopReading returns the loop that reads the n bytes send sends, the only
// bytes sent to the server meanwhile, once it has read them all; the
// guard only stops a hung test.
func (p *proc) loopReading(t *testing.T, n uint64, send func()) string {
	t.Helper()
	before := p.bytesRead(t)
	send()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		after := p.bytesRead(t)
		for loop, b := range after {
			switch d := b - before[loop]; {
			case d == n:
				return loop
			case d > n:
				t.Fatalf("loop %s read %d bytes, want %d: something else was sent", loop, d, n)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has not read the %d bytes: %v before, %v now", n, before, after)
		}
	}
}
