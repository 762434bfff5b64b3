package http1

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalnet/shoal/server"
)

// Real clients against the server: curl, net/http's Transport, wrk and ab.
// A test that needs a tool skips when it is missing, except with CI=true,
// where it fails: .ci/run installs curl, wrk and apache2-utils.

// needTool returns the path of the program name, from the apt package pkg.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found, and CI needs it (apt-get install %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found (apt-get install %s): %v", name, pkg, err)
	}
	return p
}

// runTool runs a client to its end and returns its stdout and stderr. The
// timeout only guards against a hung client.
func runTool(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := execTool(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// execTool is runTool for any goroutine: it returns the failure.
func execTool(bin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String(), nil
}

// framed wraps h: an /echo answer says in X-Framing how the request's body
// came, "chunked" or "length".
func framed(h Handler) Handler {
	return HandlerFunc(func(w *ResponseWriter, r *Request) {
		if string(r.Path()) == "/echo" {
			if r.Chunked {
				w.Header("X-Framing", "chunked")
			} else {
				w.Header("X-Framing", "length")
			}
		}
		h.ServeHTTP1(w, r)
	})
}

// testMux serves testHandler's /, /echo and 404 as a net/http.ServeMux,
// with framed's X-Framing.
func testMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})
	m.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		framing := "length"
		if len(r.TransferEncoding) == 1 && r.TransferEncoding[0] == "chunked" {
			framing = "chunked"
		}
		w.Header().Set("X-Framing", framing)
		io.Copy(w, r.Body)
	})
	m.HandleFunc("/", http.NotFound)
	return m
}

// clientHandlers are the handlers the client tests run against: the
// native one on the loop, and the same routes as a net/http.ServeMux on
// the adapter. Each call makes new ones (the adapter has its own pool).
func clientHandlers() []struct {
	name string
	h    Handler
} {
	return []struct {
		name string
		h    Handler
	}{
		{"native", framed(testHandler())},
		{"adapter", Adapt(testMux(), AdapterConfig{})},
	}
}

// forEachHandler runs f on both engines with both handlers, each on a
// server of its own.
func forEachHandler(t *testing.T, f func(t *testing.T, s *server.Server, addr string)) {
	forEachEngine(t, func(t *testing.T, eng server.Option) {
		for _, hc := range clientHandlers() {
			t.Run(hc.name, func(t *testing.T) {
				s, addr := startHTTP(t, hc.h, Config{}, eng)
				f(t, s, addr)
			})
		}
	})
}

// randomFile writes n random bytes to a file in dir.
func randomFile(t *testing.T, dir string, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, "body-"+strconv.Itoa(n))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headerOf returns the value of the field name in a head curl dumped
// with -D (the last response's, after a 100 Continue).
func headerOf(head, name string) string {
	v := ""
	for line := range strings.SplitSeq(head, "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

// TestCurl drives the server with curl on both engines and both handlers.
func TestCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	dir := t.TempDir()
	chunkedPath, chunkedBody := randomFile(t, dir, 1<<20+12345)
	expectPath, expectBody := randomFile(t, dir, 2<<20+7)

	forEachHandler(t, func(t *testing.T, s *server.Server, addr string) {
		base := "http://" + addr
		out := t.TempDir()
		o := func(name string) string { return filepath.Join(out, name) }

		// Three URLs in one invocation: one connection, by curl's count
		// and by the server's.
		t.Run("keep-alive", func(t *testing.T) {
			before := s.Stats().Accepted
			stdout, _ := runTool(t, curl, "-sS", "-w", "%{http_code} %{num_connects}\n",
				"-o", o("ka1"), base+"/", "-o", o("ka2"), base+"/", "-o", o("ka3"), base+"/nope")
			if want := "200 1\n200 0\n404 0\n"; stdout != want {
				t.Errorf("status and new connections per transfer:\n%s\nwant:\n%s", stdout, want)
			}
			if got := readFile(t, o("ka1")) + "|" + readFile(t, o("ka2")); got != "Hello, World!|Hello, World!" {
				t.Errorf("bodies %q", got)
			}
			if n := s.Stats().Accepted - before; n != 1 {
				t.Errorf("the server accepted %d connections for three requests, want 1", n)
			}
		})

		// A chunked upload of 1 MiB and a bit (Expect disabled, so that
		// only the framing differs) is echoed byte for byte.
		t.Run("chunked-upload", func(t *testing.T) {
			stdout, _ := runTool(t, curl, "-sS", "-H", "Transfer-Encoding: chunked", "-H", "Expect:",
				"--data-binary", "@"+chunkedPath, "-D", o("ch.head"), "-o", o("ch.body"), "-w", "%{http_code}", base+"/echo")
			if stdout != "200" {
				t.Errorf("status %s", stdout)
			}
			if got := headerOf(readFile(t, o("ch.head")), "X-Framing"); got != "chunked" {
				t.Errorf("the server saw the body framed by %q, want chunked", got)
			}
			if got := readFile(t, o("ch.body")); got != string(chunkedBody) {
				t.Errorf("echo of %d bytes: %d bytes back, differing", len(chunkedBody), len(got))
			}
		})

		// A 2 MiB body with Expect: 100-continue: curl waits, gets the 100,
		// sends the body and gets it back.
		t.Run("expect-100-continue", func(t *testing.T) {
			stdout, stderr := runTool(t, curl, "-sS", "-v", "-H", "Expect: 100-continue",
				"--data-binary", "@"+expectPath, "-D", o("ex.head"), "-o", o("ex.body"), "-w", "%{http_code}", base+"/echo")
			if stdout != "200" {
				t.Errorf("status %s", stdout)
			}
			if !strings.Contains(stderr, "> Expect: 100-continue") {
				t.Errorf("curl did not send Expect:\n%s", stderr)
			}
			if !strings.Contains(stderr, "< HTTP/1.1 100 Continue") {
				t.Errorf("no 100 Continue received:\n%s", stderr)
			}
			if got := headerOf(readFile(t, o("ex.head")), "X-Framing"); got != "length" {
				t.Errorf("the server saw the body framed by %q, want length", got)
			}
			if got := readFile(t, o("ex.body")); got != string(expectBody) {
				t.Errorf("echo of %d bytes: %d bytes back, differing", len(expectBody), len(got))
			}
		})

		// curl -I, then a GET on the same connection: the HEAD answer has
		// the GET's length and no body (the GET after it is read right).
		t.Run("head", func(t *testing.T) {
			stdout, _ := runTool(t, curl, "-sS", "-I", "-D", o("hd.head"), "-o", os.DevNull, "-w", "%{http_code} %{num_connects}\n", base+"/",
				"--next", "-sS", "-o", o("hd.body"), "-w", "%{http_code} %{num_connects}\n", base+"/")
			if stdout != "200 1\n200 0\n" {
				t.Errorf("status and new connections: %q, want \"200 1\\n200 0\\n\"", stdout)
			}
			head := readFile(t, o("hd.head"))
			if cl, ct := headerOf(head, "Content-Length"), headerOf(head, "Content-Type"); cl != "13" || ct != "text/plain" {
				t.Errorf("HEAD: Content-Length %q, Content-Type %q\n%s", cl, ct, head)
			}
			if got := readFile(t, o("hd.body")); got != "Hello, World!" {
				t.Errorf("GET after HEAD: %q", got)
			}
		})

		// curl -0: each request closes its connection, unless it asks for
		// keep-alive.
		t.Run("http10", func(t *testing.T) {
			before := s.Stats().Accepted
			stdout, _ := runTool(t, curl, "-sS", "-0", "-D", o("10.head"), "-w", "%{http_code} %{num_connects}\n",
				"-o", o("10.body1"), base+"/", "-o", o("10.body2"), base+"/")
			if stdout != "200 1\n200 1\n" {
				t.Errorf("status and new connections: %q, want \"200 1\\n200 1\\n\"", stdout)
			}
			if got := headerOf(readFile(t, o("10.head")), "Connection"); got != "close" {
				t.Errorf("HTTP/1.0 answer with Connection %q, want close", got)
			}
			if got := readFile(t, o("10.body1")) + "|" + readFile(t, o("10.body2")); got != "Hello, World!|Hello, World!" {
				t.Errorf("bodies %q", got)
			}
			if n := s.Stats().Accepted - before; n != 2 {
				t.Errorf("the server accepted %d connections, want 2", n)
			}

			stdout, _ = runTool(t, curl, "-sS", "-0", "-H", "Connection: keep-alive", "-D", o("10k.head"), "-w", "%{http_code} %{num_connects}\n",
				"-o", os.DevNull, base+"/", "-o", o("10k.body"), base+"/")
			if stdout != "200 1\n200 0\n" {
				t.Errorf("keep-alive: status and new connections: %q, want \"200 1\\n200 0\\n\"", stdout)
			}
			if got := headerOf(readFile(t, o("10k.head")), "Connection"); got != "keep-alive" {
				t.Errorf("HTTP/1.0 keep-alive answer with Connection %q", got)
			}
			if got := readFile(t, o("10k.body")); got != "Hello, World!" {
				t.Errorf("second body %q", got)
			}
		})
	})
}

// hiddenLength hides a reader's length from net/http, which then sends the
// body chunked.
type hiddenLength struct{ io.Reader }

// closeCounts counts, for the connections a Transport dials, which side
// closed each first. The Transport closes a connection now and then on its
// own even when the server keeps it (it does not reuse one whose request
// write it has not seen complete within 50 ms of the answer, which a
// loaded machine can cause), so the server's keep-alive is judged by the
// closes the client did not start.
type closeCounts struct {
	dialled, byClient, byServer atomic.Int64
	serverErr                   atomic.Value // the read error of a close the server started
}

// trackedConn is a dialled connection that tells closeCounts who closed it.
type trackedConn struct {
	net.Conn
	counts *closeCounts
	closed atomic.Bool // Close was called
	once   sync.Once   // counts the first close, of either side
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !c.closed.Load() { // the Transport always has a read pending: it sees the server's close
		c.once.Do(func() { c.counts.byServer.Add(1); c.counts.serverErr.Store(err.Error()) })
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.closed.Store(true) // before the close: the server sees it after
	c.once.Do(func() { c.counts.byClient.Add(1) })
	return c.Conn.Close()
}

func (cc *closeCounts) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.dialled.Add(1)
	return &trackedConn{Conn: c, counts: cc}, nil
}

// TestNetHTTPClientPool: net/http's Transport, a pool of at most 100
// connections kept idle between requests, sends two rounds of 1,000
// concurrent requests: GET /, a 404, and POST /echo with distinct random
// bodies of 0 B to 300 KB, a third of them of unknown length (chunked).
// Every answer is checked, the framing the server saw too. The server
// closes no connection and says "Connection: close" in no answer; it
// accepts at most the pool's 100 connections and one more for each that
// the Transport itself closed (rarely: see closeCounts) — across both
// rounds nearly every request went on a connection reused.
func TestNetHTTPClientPool(t *testing.T) {
	const (
		perRound = 1000
		poolSize = 100
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	sizes := []int{0, 1, 13, 100, 1000, 4096, 10000, 65536 + 7, 100000, 300000}

	forEachHandler(t, func(t *testing.T, s *server.Server, addr string) {
		var closes closeCounts
		tr := &http.Transport{MaxIdleConnsPerHost: poolSize, MaxConnsPerHost: poolSize, DisableCompression: true, DialContext: closes.dial}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 2 * time.Minute} // a guard against a hang only
		var newConns atomic.Int64
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if !ci.Reused {
				newConns.Add(1)
			}
		}}

		var failures atomic.Int64
		fail := func(format string, args ...any) {
			if failures.Add(1) <= 10 {
				t.Errorf(format, args...)
			}
		}
		do := func(round, i int, rng *rand.Rand) {
			kind := rng.IntN(10)
			var req *http.Request
			var body []byte
			var chunked bool
			switch {
			case kind < 4: // GET /
				req, _ = http.NewRequest("GET", "http://"+addr+"/", nil)
			case kind == 4: // 404
				req, _ = http.NewRequest("GET", "http://"+addr+"/nope", nil)
			default: // POST /echo
				n := sizes[rng.IntN(len(sizes))]
				chunked = kind >= 8 && n > 0
				if n > 0 {
					body = fmt.Appendf(nil, "round %d request %d:", round, i)
					for len(body) < n {
						body = append(body, byte(rng.Uint32()))
					}
				}
				var r io.Reader = bytes.NewReader(body)
				if chunked {
					r = hiddenLength{r}
				}
				req, _ = http.NewRequest("POST", "http://"+addr+"/echo", r)
			}
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			resp, err := client.Do(req)
			if err != nil {
				fail("round %d request %d: %v", round, i, err)
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				fail("round %d request %d body: %v", round, i, err)
				return
			}
			switch {
			case kind < 4:
				if resp.StatusCode != 200 || string(got) != "Hello, World!" || resp.Header.Get("Content-Type") != "text/plain" {
					fail("round %d GET %d: %d %q %q", round, i, resp.StatusCode, resp.Header.Get("Content-Type"), got)
				}
			case kind == 4:
				if resp.StatusCode != 404 {
					fail("round %d 404 %d: %d", round, i, resp.StatusCode)
				}
			default:
				want := "length"
				if chunked {
					want = "chunked"
				}
				if resp.StatusCode != 200 || !bytes.Equal(got, body) || resp.Header.Get("X-Framing") != want {
					fail("round %d POST %d (%d bytes, %s): %d, %d bytes back, equal %v, framing %q",
						round, i, len(body), want, resp.StatusCode, len(got), bytes.Equal(got, body), resp.Header.Get("X-Framing"))
				}
			}
			if resp.Close {
				fail("round %d request %d: the server closed the connection", round, i)
			}
		}
		round := func(n int) {
			var wg sync.WaitGroup
			for i := range perRound {
				wg.Go(func() { do(n, i, rand.New(rand.NewPCG(seed, uint64(n*perRound+i)))) })
			}
			wg.Wait()
		}

		round(1)
		after1 := s.Stats()
		round(2)
		byClient := closes.byClient.Load() // first: every close it counts precedes the server's
		after2 := s.Stats()
		t.Logf("connections accepted: %d after round 1, %d after round 2; the client dialled %d, used %d fresh and closed %d itself",
			after1.Accepted, after2.Accepted, closes.dialled.Load(), newConns.Load(), byClient)
		if failures.Load() > 0 {
			t.Fatalf("%d of %d requests failed", failures.Load(), 2*perRound)
		}
		if n := closes.byServer.Load(); n > 0 {
			t.Errorf("the server closed %d keep-alive connections (client read: %v)", n, closes.serverErr.Load())
		}
		if after2.Closed > uint64(byClient) {
			t.Errorf("the server closed %d connections, the client only %d", after2.Closed, byClient)
		}
		if after2.Accepted > uint64(poolSize+byClient) {
			t.Errorf("the server accepted %d connections for %d keep-alive requests; want at most %d (the pool) + %d (closed by the client)",
				after2.Accepted, 2*perRound, poolSize, byClient)
		}
	})
}

// wrkPostScript posts a body to /echo and counts the answers that are not
// 200 with that body; done prints the count over all threads.
const wrkPostScript = `
wrk.method = "POST"
wrk.body = string.rep("shoal echo ", 300)
wrk.headers["Content-Type"] = "application/octet-stream"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and body == wrk.body then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("echo checked: good %d bad %d\n", g, b))
end
`

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkEchoes   = regexp.MustCompile(`(?m)^echo checked: good (\d+) bad (\d+)$`)
)

// checkWrk checks a wrk run's report: requests done, all 2xx, no socket
// error of any kind (wrk prints the line only when there is one).
func checkWrk(t *testing.T, what, out string) {
	t.Helper()
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no request count in wrk's report:\n%s", what, out)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("%s: no request done:\n%s", what, out)
	}
	if strings.Contains(out, "Non-2xx or 3xx responses") || strings.Contains(out, "Socket errors") {
		t.Errorf("%s: errors in wrk's report:\n%s", what, out)
	}
}

// TestWrk runs wrk against both handlers on both engines: GET / with 50
// connections, and at the same time POST /echo from a Lua script that
// checks every echoed body. Nothing is asserted about speed.
func TestWrk(t *testing.T) {
	wrk := needTool(t, "wrk", "wrk")
	script := filepath.Join(t.TempDir(), "post.lua")
	if err := os.WriteFile(script, []byte(wrkPostScript), 0o644); err != nil {
		t.Fatal(err)
	}
	forEachHandler(t, func(t *testing.T, s *server.Server, addr string) {
		var get, post string
		var getErr, postErr error
		var wg sync.WaitGroup
		// --timeout: a late answer on a loaded machine is not a socket error.
		wg.Go(func() {
			get, _, getErr = execTool(wrk, "-t1", "-c50", "-d1s", "--timeout", "30s", "--latency", "http://"+addr+"/")
		})
		wg.Go(func() {
			post, _, postErr = execTool(wrk, "-t1", "-c10", "-d1s", "--timeout", "30s", "-s", script, "http://"+addr+"/echo")
		})
		wg.Wait()
		if getErr != nil || postErr != nil {
			t.Fatal(errors.Join(getErr, postErr))
		}
		checkWrk(t, "GET /", get)
		if !strings.Contains(get, "Latency Distribution") {
			t.Errorf("GET /: no latency distribution (--latency):\n%s", get)
		}
		checkWrk(t, "POST /echo", post)
		m := wrkEchoes.FindStringSubmatch(post)
		if m == nil {
			t.Fatalf("POST /echo: no echo count from the script:\n%s", post)
		}
		if good, _ := strconv.Atoi(m[1]); good == 0 || m[2] != "0" {
			t.Errorf("POST /echo: %s echoes right, %s wrong", m[1], m[2])
		}
	})
}

// abField returns the number after "name:" in ab's report.
func abField(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in ab's report:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestApacheBench runs ab (HTTP/1.0) against both handlers on both
// engines: 2,000 GET / with keep-alive, all kept alive; 2,000 without, one
// connection each; 500 POST /echo of 20 KB with keep-alive, each echoed
// at its length (ab counts a length that differs as a failure). The body
// is below the adapter's FlushAt: a net/http handler that writes more than
// that without a Content-Length is sent close-delimited to an HTTP/1.0
// client, as net/http does past 2 KB, and the connection is not kept.
func TestApacheBench(t *testing.T) {
	ab := needTool(t, "ab", "apache2-utils")
	postPath, postBody := randomFile(t, t.TempDir(), 20000)
	forEachHandler(t, func(t *testing.T, s *server.Server, addr string) {
		url := "http://" + addr + "/"

		out, _ := runTool(t, ab, "-k", "-n", "2000", "-c", "50", url)
		if c, f, k := abField(t, out, "Complete requests"), abField(t, out, "Failed requests"), abField(t, out, "Keep-Alive requests"); c != 2000 || f != 0 || k != 2000 {
			t.Errorf("ab -k: %d complete, %d failed, %d kept alive; want 2000, 0, 2000\n%s", c, f, k, out)
		}
		if strings.Contains(out, "Non-2xx responses") {
			t.Errorf("ab -k: non-2xx responses\n%s", out)
		}

		before := s.Stats().Accepted
		out, _ = runTool(t, ab, "-n", "2000", "-c", "50", url)
		if c, f := abField(t, out, "Complete requests"), abField(t, out, "Failed requests"); c != 2000 || f != 0 {
			t.Errorf("ab: %d complete, %d failed; want 2000, 0\n%s", c, f, out)
		}
		if strings.Contains(out, "Non-2xx responses") {
			t.Errorf("ab: non-2xx responses\n%s", out)
		}
		if n := s.Stats().Accepted - before; n < 2000 { // ab may open a few more than it uses near its end
			t.Errorf("ab without keep-alive: the server accepted %d connections, want one per request at least", n)
		}

		out, _ = runTool(t, ab, "-k", "-n", "500", "-c", "20", "-p", postPath, "-T", "application/octet-stream", url+"echo")
		if c, f, k := abField(t, out, "Complete requests"), abField(t, out, "Failed requests"), abField(t, out, "Keep-Alive requests"); c != 500 || f != 0 || k != 500 {
			t.Errorf("ab -k POST: %d complete, %d failed, %d kept alive; want 500, 0, 500\n%s", c, f, k, out)
		}
		if n := abField(t, out, "Document Length"); n != len(postBody) {
			t.Errorf("ab -k POST: echoes of %d bytes, want %d", n, len(postBody))
		}
	})
}
