package main

import (
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/shoalnet/shoal/examples/internal/proctest"
	"github.com/shoalnet/shoal/ws"
)

// TestDrain runs the binary with -dev: WebSocket clients in a room and an
// SSE stream exchange a message, then SIGTERM: each WebSocket gets the
// close 3001 (reconnect), the SSE stream's last event says 3001 and it
// ends, and the process exits 0.
func TestDrain(t *testing.T) {
	p := proctest.Start(t, proctest.Build(t, "."), []string{"chat listening", "admin endpoints listening"},
		"-dev", "-addr", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-loops", "2")
	tc := &testChat{t: t, addr: p.Addrs["chat listening"]}
	token := func(user string) string {
		resp, err := httpClient(t).Get("http://" + tc.addr + "/token?user=" + user)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct{ Token string }
		if err := decodeJSON(resp, &tok); err != nil || tok.Token == "" {
			t.Fatalf("GET /token: %s %v", resp.Status, err)
		}
		return tok.Token
	}
	var peers []*peer
	for _, user := range []string{"alice", "bob", "carol"} {
		c, err := ws.Dial("ws://"+tc.addr+"/ws?token="+token(user), nil)
		if err != nil {
			t.Fatal(err)
		}
		pr := tc.peer(c)
		pr.join("lobby", 0, nil)
		peers = append(peers, pr)
	}
	s := tc.sse("token=" + url.QueryEscape(token("sam")) + "&rooms=lobby")
	s.expect("joined")
	peers[0].publish("lobby", "1", "before the drain")
	for _, r := range []*reader{&peers[1].reader, &peers[2].reader, &s.reader} {
		if m := r.expect("message"); m.Text != "before the drain" {
			t.Fatalf("got %v", m)
		}
	}

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, pr := range peers {
		if code := pr.closed(); code != closeReconnect {
			t.Fatalf("%s after SIGTERM: close %d, want %d", pr.user, code, closeReconnect)
		}
		pr.c.NetConn().Close()
	}
	if m := s.expect("disconnect"); m.Code != closeReconnect {
		t.Fatalf("the SSE stream's last event: %v, want a disconnect %d", m, closeReconnect)
	}
	if rest, err := io.ReadAll(s.resp.Body); err != nil {
		t.Fatalf("the SSE stream after SIGTERM: %q, %v; want its end", rest, err)
	}
	if code := p.ExitCode(t, hang); code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
}

// TestSecret: without -dev the binary wants a secret; -mint makes a
// token with it that the server takes, and /token is not there.
func TestSecret(t *testing.T) {
	bin := proctest.Build(t, ".")
	noSecret := exec.Command(bin, "-addr", "127.0.0.1:0")
	noSecret.Env = []string{"PATH=/usr/bin:/bin"} // no CHAT_SECRET
	out, err := noSecret.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "-secret") {
		t.Fatalf("without -dev nor -secret: %v %s", err, out)
	}
	const secret = "sixteen bytes or more"
	cmd := exec.Command(bin, "-mint", "alice")
	cmd.Env = append(cmd.Environ(), "CHAT_SECRET="+secret)
	tok, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, bin, []string{"chat listening"}, "-secret", secret, "-addr", "127.0.0.1:0", "-admin", "")
	tc := &testChat{t: t, addr: p.Addrs["chat listening"]}
	c, err := ws.Dial("ws://"+tc.addr+"/ws?token="+strings.TrimSpace(string(tok)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pr := tc.peer(c); pr.user != "alice" {
		t.Fatalf("hello as %q", pr.user)
	}
	resp, err := httpClient(t).Get("http://" + tc.addr + "/token?user=bob")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/token without -dev: %s", resp.Status)
	}
	c.NetConn().Close()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if code := p.ExitCode(t, hang); code != 0 {
		t.Fatalf("exit code %d; logs:\n%s", code, p.Logs.String())
	}
}
