package interop

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The chat's page (examples/chat) in headless Chromium: pages exchange
// messages, see each other in the room's presence, come back after their
// connection was cut with what they missed, say so when the server
// restarted without its history, and work over SSE. CHAT_SCREENSHOTS=1
// saves its screenshots to examples/chat/screenshots.

// chatBinary builds examples/chat once per test process.
func chatBinary(t *testing.T) string { return exampleBinary(t, "chat") }

// startChatServer runs the chat with -dev on addr ("127.0.0.1:0": a free
// port), admin endpoints off, and waits for its "chat listening" line.
func startChatServer(t *testing.T, addr string) *server {
	t.Helper()
	return startProcess(t, "chat", chatBinary(t), "-dev", "-addr", addr, "-admin", "", "-loops", "2")
}

// stop drains the chat (SIGTERM) and waits for it to exit 0.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exit:
		if err != nil {
			t.Fatalf("chat: %v; logs:\n%s", err, s.logs)
		}
	case <-time.After(exitWithin):
		t.Fatalf("chat did not exit within %v; logs:\n%s", exitWithin, s.logs)
	}
}

// chatPage is one tab on the chat.
type chatPage struct {
	t    *testing.T
	name string
	ctx  context.Context
	stop context.CancelFunc
}

// openPage opens a tab on the chat at addr (logged in as its user=).
func openPage(t *testing.T, browser context.Context, name, addr string) *chatPage {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 600), chromedp.Navigate(addr)); err != nil {
		t.Fatal(err)
	}
	p := &chatPage{t: t, name: name, ctx: ctx, stop: cancel}
	p.wait(`document.querySelector("#status").dataset.state === "open"`)
	return p
}

// wait polls until the page's expression is true.
func (p *chatPage) wait(cond string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(testWithin))); err != nil {
		status, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector("#status").textContent + " | " + document.querySelector("#notices").textContent`))
		p.t.Fatalf("%s: waiting for %s: %v; status and notices: %s", p.name, cond, err, status)
	}
}

// eval runs JavaScript on the page and returns its value.
func eval[T any](p *chatPage, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
	return v
}

// send types text into the message field and submits it.
func (p *chatPage) send(text string) {
	p.t.Helper()
	p.wait(`!document.querySelector("#send").disabled`)
	if err := chromedp.Do(p.ctx, chromedp.SetValue(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send"))); err != nil {
		p.t.Fatal(err)
	}
}

// shows waits until a message with text is shown.
func (p *chatPage) shows(text string) {
	p.t.Helper()
	p.wait(fmt.Sprintf(`[...document.querySelectorAll("#messages .message .text")].some((e) => e.textContent === %q)`, text))
}

// presence waits until the room's presence lists n connections.
func (p *chatPage) presence(n int) {
	p.t.Helper()
	p.wait(fmt.Sprintf(`document.querySelectorAll("#presence li").length === %d`, n))
}

// screenshot saves the page as NAME.png: in the test's temporary
// directory, or, with CHAT_SCREENSHOTS=1, in examples/chat/screenshots,
// the ones the READMEs show (so that a test run does not rewrite them).
func (p *chatPage) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	dir := p.t.TempDir()
	if os.Getenv("CHAT_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "examples", "chat", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// noWebSocketProxy is an HTTP proxy to the chat that refuses WebSocket
// upgrades, as some do.
func noWebSocketProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			http.Error(w, "no WebSockets through this proxy", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ps.CloseClientConnections()
		ps.Close()
	})
	return ps.URL
}

// TestChromiumChat drives the chat's page in headless Chromium.
func TestChromiumChat(t *testing.T) {
	browser := newBrowser(t)
	s := startChatServer(t, "127.0.0.1:0")
	origin := "http://" + s.Addr

	// Two pages join a room and exchange messages; presence shows both.
	alice := openPage(t, browser, "alice", origin+"/?user=alice&rooms=lobby,dev")
	bob := openPage(t, browser, "bob", origin+"/?user=bob&rooms=lobby")
	alice.presence(2)
	bob.presence(2)
	if tr := eval[string](alice, `document.querySelector("#status").dataset.transport`); tr != "ws" {
		t.Fatalf("alice's transport: %q, want ws", tr)
	}
	alice.send("hello from alice ✓")
	bob.shows("hello from alice ✓")
	bob.send("hi alice, <b>not bold</b>")
	alice.shows("hi alice, <b>not bold</b>")
	if n := eval[int](alice, `document.querySelectorAll("#messages b").length`); n != 0 {
		t.Fatalf("a message's text became HTML")
	}
	alice.screenshot("two-pages-alice")
	bob.screenshot("two-pages-bob")

	// One page goes: presence shows one.
	bob.stop()
	alice.presence(1)

	// A page whose connection is cut comes back with what it missed.
	carol := openPage(t, browser, "carol", origin+"/?user=carol&rooms=lobby")
	carol.shows("hello from alice ✓") // history on join
	alice.presence(2)
	eval[bool](carol, `window.chat.pause(), true`) // its connection closes, and stays closed
	carol.wait(`document.querySelector("#status").dataset.state === "closed"`)
	alice.presence(1)
	for i := range 3 {
		alice.send(fmt.Sprint("while carol was away ", i))
	}
	alice.shows("while carol was away 2")
	eval[bool](carol, `window.chat.resume(), true`)
	carol.wait(`document.querySelector("#status").dataset.state === "open"`)
	for i := range 3 {
		carol.shows(fmt.Sprint("while carol was away ", i))
	}
	if n := eval[int](carol, `document.querySelectorAll("#notices .notice, #messages .gap").length`); n != 0 {
		t.Fatalf("carol recovered, but the page shows %d notices", n)
	}
	if n := eval[int](carol, `document.querySelectorAll("#messages .message").length`); n != 5 {
		t.Fatalf("carol shows %d messages, want the 2 of history and the 3 missed, once each", n)
	}
	carol.screenshot("recovered")

	// Over SSE.
	dave := openPage(t, browser, "dave", origin+"/?user=dave&rooms=lobby&transport=sse")
	if tr := eval[string](dave, `document.querySelector("#status").dataset.transport`); tr != "sse" {
		t.Fatalf("dave's transport: %q, want sse", tr)
	}
	alice.presence(3)
	dave.presence(3)
	dave.send("dave over SSE")
	alice.shows("dave over SSE")
	alice.send("alice to dave")
	dave.shows("alice to dave")
	dave.screenshot("sse")

	// A page whose WebSocket cannot open (a proxy on the way refuses it)
	// falls back to SSE by itself.
	erin := openPage(t, browser, "erin", noWebSocketProxy(t, origin)+"/?user=erin&rooms=lobby")
	if tr := eval[string](erin, `document.querySelector("#status").dataset.transport`); tr != "sse" {
		t.Fatalf("erin's transport with the WebSocket blocked: %q, want sse", tr)
	}
	erin.shows("alice to dave")
	erin.presence(4)
	erin.screenshot("sse-fallback")
	erin.stop()
	alice.presence(3)

	// The server restarts: the pages reconnect by themselves; its history
	// went with it (a new epoch), which they say.
	s.stop(t)
	alice.wait(`document.querySelector("#status").dataset.state !== "open"`)
	s = startChatServer(t, s.Addr)
	for _, p := range []*chatPage{alice, carol, dave} {
		p.wait(`document.querySelector("#status").dataset.state === "open"`)
		p.wait(`document.querySelectorAll("#notices .notice").length > 0 && document.querySelectorAll("#messages .gap").length > 0`)
	}
	alice.presence(3)
	carol.send("after the restart")
	for _, p := range []*chatPage{alice, dave} {
		p.shows("after the restart")
	}
	alice.screenshot("after-restart")
	s.stop(t)
}
