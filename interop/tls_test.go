package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/shoalnet/shoal/internal/devcert"
)

// testPKI is a CA the test makes, and a certificate for 127.0.0.1 and
// localhost in files, as -tls-cert and -tls-key take them.
type testPKI struct {
	ca                     *devcert.CA
	dir, caFile, cert, key string
	certName               string // the certificate's common name
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := devcert.NewCA("shoal interop test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: ca, dir: t.TempDir()}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	p.cert, p.key = filepath.Join(p.dir, "tls.crt"), filepath.Join(p.dir, "tls.key")
	if err := os.WriteFile(p.caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.issue(t, "127.0.0.1")
	return p
}

// issue writes a new certificate whose first name is name into the files,
// each renamed into place as a secret volume swaps it.
func (p *testPKI) issue(t *testing.T, name string) {
	t.Helper()
	cert, err := p.ca.Issue(name, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := devcert.PEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{p.key: k, p.cert: c} {
		if err := os.WriteFile(file+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	p.certName = name
}

func (p *testPKI) args() []string { return []string{"-tls-cert", p.cert, "-tls-key", p.key} }

func (p *testPKI) client() *tls.Config { return &tls.Config{RootCAs: p.ca.Pool()} }

// startHTTPS runs examples/http over TLS.
func startHTTPS(t *testing.T, p *testPKI, extra ...string) *server {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-admin", ""}, p.args()...)
	return startProcess(t, "http server", exampleBinary(t, "http"), append(args, extra...)...)
}

// TestTLSCurl: curl over TLS 1.2 and 1.3 to examples/http: GET, HEAD, a
// POST with a body, and two requests on one kept-alive connection.
func TestTLSCurl(t *testing.T) {
	curl := needTool(t, "curl")
	p := newPKI(t)
	s := startHTTPS(t, p)
	base := "https://" + s.Addr
	for _, v := range [][]string{{"--tlsv1.2", "--tls-max", "1.2"}, {"--tlsv1.3"}} {
		run := func(args ...string) string {
			t.Helper()
			all := append([]string{"-sS", "--http1.1", "--cacert", p.caFile, "--max-time", "30"}, v...)
			out, err := exec.Command(curl, append(all, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %v: %v\n%s\nserver logs:\n%s", args, err, out, s.logs)
			}
			return string(out)
		}
		if got := run(base + "/"); got != "Hello, World!" {
			t.Errorf("%v GET /: %q", v, got)
		}
		if got := run("-d", "over tls", base+"/echo"); got != "over tls" {
			t.Errorf("%v POST /echo: %q", v, got)
		}
		out := run("-v", base+"/", base+"/")
		if strings.Count(out, "Hello, World!") != 2 || !strings.Contains(out, "Re-using existing connection") {
			t.Errorf("%v two requests on one connection:\n%s", v, out)
		}
		want := "TLSv1.3"
		if v[0] == "--tlsv1.2" {
			want = "TLSv1.2"
		}
		if !strings.Contains(out, "SSL connection using "+want) || !strings.Contains(out, "ALPN: server accepted http/1.1") {
			t.Errorf("%v: no %s or no ALPN http/1.1 in\n%s", v, want, out)
		}
	}
}

// TestTLSOpenSSL: openssl s_client at TLS 1.2 and 1.3, and resumption of
// the session the first connection got (a ticket in both versions).
func TestTLSOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t)
	s := startHTTPS(t, p)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(t.TempDir(), "sess.pem")
		connect := func(resume string) string {
			t.Helper()
			args := []string{"s_client", "-connect", s.Addr, v, "-CAfile", p.caFile, "-servername", "localhost",
				"-alpn", "http/1.1", "-ign_eof"}
			if resume == "" {
				args = append(args, "-sess_out", sess)
			} else {
				args = append(args, "-sess_in", resume)
			}
			cmd := exec.Command(openssl, args...)
			cmd.Stdin = strings.NewReader("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		first := connect("")
		if !strings.Contains(first, "Hello, World!") || !strings.Contains(first, "Verify return code: 0 (ok)") ||
			!strings.Contains(first, "ALPN protocol: http/1.1") {
			t.Fatalf("%s first connection:\n%s", v, first)
		}
		second := connect(sess)
		if !strings.Contains(second, "Reused, TLSv1.") || !strings.Contains(second, "Hello, World!") {
			t.Errorf("%s: the second connection did not resume the session:\n%s", v, second)
		}
	}
}

// TestTLSNetHTTPClient: Go's net/http client, 1,000 requests at once over
// a pool of kept-alive TLS connections, to the native handler and to the
// net/http adapter (-nethttp).
func TestTLSNetHTTPClient(t *testing.T) {
	p := newPKI(t)
	for _, mode := range [][]string{nil, {"-nethttp"}} {
		s := startHTTPS(t, p, mode...)
		tr := &http.Transport{TLSClientConfig: p.client(), MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
		c := &http.Client{Transport: tr, Timeout: testWithin}
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for i := range 1000 {
			wg.Go(func() {
				body := fmt.Sprintf("request %d", i)
				resp, err := c.Post("https://"+s.Addr+"/echo", "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != body || resp.TLS == nil {
					errs <- fmt.Errorf("%q: %q, %v", body, got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%v: %v; logs:\n%s", mode, err, s.logs)
		}
		tr.CloseIdleConnections()
	}
}

// TestTLSGorilla: gorilla/websocket over wss to examples/wsecho: every
// message of messages() (16 MiB ones included), then the drain's 1001.
func TestTLSGorilla(t *testing.T) {
	p := newPKI(t)
	s := startProcess(t, "wsecho", wsechoBinary(t), append([]string{"-addr", "127.0.0.1:0", "-admin", ""}, p.args()...)...)
	d := websocket.Dialer{HandshakeTimeout: startWithin, TLSClientConfig: p.client()}
	c, _, err := d.Dial("wss://"+s.Addr+"/", nil)
	if err != nil {
		t.Fatalf("dial: %v; logs:\n%s", err, s.logs)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(testWithin))
	c.SetWriteDeadline(time.Now().Add(testWithin))
	for _, m := range messages() {
		typ := websocket.TextMessage
		if m.binary {
			typ = websocket.BinaryMessage
		}
		if err := c.WriteMessage(typ, m.whole()); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		gotTyp, got, err := c.ReadMessage()
		if err != nil || gotTyp != typ || !bytes.Equal(got, m.whole()) {
			t.Fatalf("%s: echo of %d bytes: %d bytes, type %d, %v", m.name, len(m.whole()), len(got), gotTyp, err)
		}
	}
	s.Drain(t)
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after SIGTERM: %v, want close 1001", err)
	}
	s.WaitExit0(t)
}

// TestTLSCertificateReload: new files are served to new connections
// (found by the file watch, and on SIGHUP), while a connection made
// before goes on with its certificate; a broken pair is refused and the
// one in use stays.
func TestTLSCertificateReload(t *testing.T) {
	p := newPKI(t)
	p.issue(t, "first.test")
	s := startHTTPS(t, p)
	tr := &http.Transport{TLSClientConfig: p.client()}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: testWithin}
	get := func(c *http.Client) (name string, reused bool) {
		t.Helper()
		var info httptrace.GotConnInfo
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }})
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+s.Addr+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET: %v; logs:\n%s", err, s.logs)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName, info.Reused
	}
	fresh := func() string { // a new connection's certificate
		t.Helper()
		tr := &http.Transport{TLSClientConfig: p.client(), DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		name, _ := get(&http.Client{Transport: tr, Timeout: testWithin})
		return name
	}
	waitFor := func(name string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for fresh() != name {
			if time.Now().After(deadline) {
				t.Fatalf("new connections never got %s; logs:\n%s", name, s.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if name, _ := get(c); name != "first.test" {
		t.Fatalf("serving %s", name)
	}

	p.issue(t, "second.test") // the watch finds it
	waitFor("second.test")
	if name, reused := get(c); name != "first.test" || !reused {
		t.Errorf("the connection made before the reload: %s, reused %v", name, reused)
	}

	// A key that is not the certificate's: refused, the second one stays.
	other, _ := p.ca.Issue("other.test")
	_, badKey, _ := devcert.PEM(other)
	os.WriteFile(p.key, badKey, 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(3 * time.Second) // past a watch interval
	if name := fresh(); name != "second.test" {
		t.Errorf("after a broken pair: %s", name)
	}

	p.issue(t, "third.test")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("third.test")
	logs := s.logs.String()
	if !strings.Contains(logs, "certificate reloaded") || !strings.Contains(logs, "do not load") && !strings.Contains(logs, "reload failed") {
		t.Errorf("the reloads are not in the log:\n%s", logs)
	}
}

// TestTLSHostileClients: 200 connections that send half a ClientHello and
// wait, a ClientHello written one byte per write, and then 5,000
// handshakes begun at once: every real handshake succeeds.
func TestTLSHostileClients(t *testing.T) {
	p := newPKI(t)
	s := startHTTPS(t, p)
	// Connections that send half a ClientHello and wait, taking no
	// handshake slot that matters: the good clients still get through.
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
		idle = append(idle, c)
	}
	// A ClientHello one byte per write.
	raw, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	slow := tls.Client(&byteWriter{Conn: raw}, &tls.Config{RootCAs: p.ca.Pool(), ServerName: "127.0.0.1"})
	slow.SetDeadline(time.Now().Add(testWithin))
	if err := slow.Handshake(); err != nil {
		t.Fatalf("a ClientHello one byte per write: %v", err)
	}
	slow.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 5000)
	for range 5000 {
		wg.Go(func() {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: testWithin}, "tcp", s.Addr, p.client())
			if err != nil {
				errs <- err
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n < 5 {
			t.Errorf("handshake: %v", err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of 5000 handshakes failed; logs:\n%s", n, s.logs)
	}
}

// byteWriter writes one byte per system call.
type byteWriter struct{ net.Conn }

func (w *byteWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// trustingHome makes a home directory whose NSS certificate store (the
// one Chromium reads on Linux) trusts the test's CA.
func trustingHome(t *testing.T, p *testPKI) string {
	t.Helper()
	certutil := needTool(t, "certutil")
	home := t.TempDir()
	db := "sql:" + filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700)
	for _, args := range [][]string{
		{"-d", db, "-N", "--empty-password"},
		{"-d", db, "-A", "-t", "C,,", "-n", "shoal interop test CA", "-i", p.caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return home
}

// TestChromiumChatTLS: headless Chromium, trusting a CA the test made,
// loads the chat page over https and talks over wss: two pages see each
// other and exchange messages.
func TestChromiumChatTLS(t *testing.T) {
	p := newPKI(t)
	home := trustingHome(t, p)
	browser := newBrowser(t, chromedp.Env("HOME="+home))
	s := startProcess(t, "chat", chatBinary(t), append([]string{"-dev", "-addr", "127.0.0.1:0", "-admin", "", "-loops", "2"}, p.args()...)...)
	origin := "https://localhost:" + s.Addr[strings.LastIndex(s.Addr, ":")+1:]
	alice := openPage(t, browser, "alice", origin+"/?user=alice&rooms=lobby")
	bob := openPage(t, browser, "bob", origin+"/?user=bob&rooms=lobby")
	for _, pg := range []*chatPage{alice, bob} {
		if tr := eval[string](pg, `document.querySelector("#status").dataset.transport`); tr != "ws" {
			t.Fatalf("%s's transport: %q, want ws", pg.name, tr)
		}
		if proto := eval[string](pg, `location.protocol`); proto != "https:" {
			t.Fatalf("%s's page came over %q", pg.name, proto)
		}
	}
	alice.presence(2)
	alice.send("over wss")
	bob.shows("over wss")
	bob.send("and back")
	alice.shows("and back")
	s.stop(t)
}

// TestTLSRenegotiation: openssl s_client asks for a renegotiation (its
// "R" command) on a TLS 1.2 connection: the server refuses it and closes
// that connection, and goes on serving others.
func TestTLSRenegotiation(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t)
	s := startHTTPS(t, p)
	cmd := exec.Command(openssl, "s_client", "-connect", s.Addr, "-tls1_2", "-CAfile", p.caFile, "-servername", "localhost")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the handshake
	io.WriteString(in, "R\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(testWithin):
		cmd.Process.Kill()
		t.Fatalf("s_client still connected after asking to renegotiate:\n%s", out.String())
	}
	in.Close()
	if !strings.Contains(out.String(), "RENEGOTIATING") || !strings.Contains(out.String(), "alert") {
		t.Fatalf("no renegotiation attempted:\n%s", out.String())
	}
	t.Logf("s_client:\n%s", out.String()[max(0, out.Len()-400):])
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: p.client()}, Timeout: testWithin}).Get("https://" + s.Addr + "/")
	if err != nil {
		t.Fatalf("after the renegotiation attempt: %v", err)
	}
	resp.Body.Close()
}
