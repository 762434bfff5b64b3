package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrk, the HTTP load generator in C, drives the HTTP scenario a second
// time when it is on PATH: a client that is not ours, as users run it.

// wrkPath returns the path of wrk, or "" when it is not on PATH.
func wrkPath() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// wrkResult is what wrk reported of one run.
type wrkResult struct {
	requests      int64
	reqSec        float64
	p50, p90, p99 time.Duration
	errors        int64 // non-2xx/3xx responses and socket errors
}

// wrkSeconds is d rounded up to whole seconds, wrk's unit, and at least 1.
func wrkSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// runWrk runs `wrk -t1 -cN -dS --latency` against http://addr/ and parses
// its report.
func runWrk(path, addr string, conns int, d time.Duration) (wrkResult, error) {
	secs := wrkSeconds(d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", "--latency", "http://"+addr+"/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return parseWrk(string(out))
}

// parseWrk reads the lines of wrk's report this benchmark uses:
//
//	  Latency Distribution
//	     50%    1.93ms
//	     90%   12.34ms
//	     99%   27.84ms
//	  31445 requests in 1.05s, 3.90MB read
//	  Non-2xx or 3xx responses: 3
//	  Socket errors: connect 0, read 1, write 0, timeout 0
//	Requests/sec:  30040.20
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var seen int
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "90%" || f[0] == "99%"):
			d, err := parseWrkTime(f[1])
			if err != nil {
				return r, err
			}
			switch f[0] {
			case "50%":
				r.p50 = d
			case "90%":
				r.p90 = d
			default:
				r.p99 = d
			}
			seen++
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: %q: %w", s.Text(), err)
			}
			r.requests = n
			seen++
		case len(f) == 2 && f[0] == "Requests/sec:":
			x, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: %q: %w", s.Text(), err)
			}
			r.reqSec = x
			seen++
		case strings.HasPrefix(s.Text(), "  Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: %q: %w", s.Text(), err)
			}
			r.errors += n
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// connect 0, read 1, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk: %q: %w", s.Text(), err)
				}
				r.errors += n
			}
		}
	}
	if seen != 5 {
		return r, fmt.Errorf("wrk: unexpected report:\n%s", out)
	}
	return r, nil
}

// parseWrkTime parses wrk's latencies: 812.00us, 1.93ms, 2.01s, 1.50m.
func parseWrkTime(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				break
			}
			return time.Duration(x * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk: latency %q", s)
}
