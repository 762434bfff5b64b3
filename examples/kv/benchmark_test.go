package main

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRedisBenchmark runs redis-benchmark against kv, without and with
// pipelining: every test must complete, without errors.
func TestRedisBenchmark(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	addr, _ := startKV(t)
	host, port, _ := net.SplitHostPort(addr)
	n := "100000"
	if testing.Short() {
		n = "10000"
	}
	rps := regexp.MustCompile(`(?m)^([A-Z_]+(?: \(10 keys\))?): [0-9.]+ requests per second`)
	for _, pipeline := range []string{"1", "16"} {
		t.Run("P"+pipeline, func(t *testing.T) {
			cmd := exec.Command(bench, "-h", host, "-p", port, "-t", "ping,set,get,incr,mset",
				"-n", n, "-P", pipeline, "-q")
			out, err := cmd.CombinedOutput()
			text := strings.ReplaceAll(string(out), "\r", "\n")
			if err != nil {
				t.Fatalf("redis-benchmark: %v\n%s", err, text)
			}
			var tests []string
			for _, m := range rps.FindAllStringSubmatch(text, -1) {
				tests = append(tests, m[1])
			}
			want := []string{"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"}
			if strings.Join(tests, ",") != strings.Join(want, ",") {
				t.Fatalf("tests completed %q, want %q\n%s", tests, want, text)
			}
			if strings.Contains(strings.ToLower(text), "error") || strings.Contains(text, "WARNING") {
				t.Fatalf("errors in the output:\n%s", text)
			}
			t.Logf("-P %s:\n%s", pipeline, strings.Join(rps.FindAllString(text, -1), "\n"))
		})
	}
}
