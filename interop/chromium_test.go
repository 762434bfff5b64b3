package interop

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// debianChromium is where Debian's chromium package puts the browser.
const debianChromium = "/usr/bin/chromium"

// page opens a WebSocket to the host it was loaded from, sends text and
// binary messages one at a time, checks each echo, and records in
// window.result what happened, the close event included.
const page = `<!doctype html>
<meta charset="utf-8">
<title>wsecho interop</title>
<script>
"use strict";
const result = window.result = {
	errors: [], echoed: false, opened: false, closed: false,
	extensions: null, protocol: null, closeCode: null, closeReason: null, wasClean: null,
};
const fail = (m) => result.errors.push(m);
const ws = new WebSocket("ws://" + location.host + "/chromium");
ws.binaryType = "arraybuffer";
const inbox = [], waiters = [];
ws.onmessage = (e) => { const w = waiters.shift(); if (w) w(e.data); else inbox.push(e.data); };
const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r));
ws.onerror = () => fail("error event");
ws.onclose = (e) => {
	result.closeCode = e.code; result.closeReason = e.reason; result.wasClean = e.wasClean;
	result.closed = true;
	for (const w of waiters.splice(0)) w(null);
};

function sameBytes(a, b) {
	if (a.length !== b.length) return false;
	for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
	return true;
}

function messages() {
	const all = new Uint8Array(256);
	for (let i = 0; i < 256; i++) all[i] = i;
	const big = new Uint8Array(16 << 20); // wsecho's default -max-message
	let x = 2463534242;
	for (let i = 0; i < big.length; i++) {
		if (i & (1 << 12)) { big[i] = (i >> 13) & 0xff; continue; }
		x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
		big[i] = x & 0xff;
	}
	return [
		["text", "héllo, wörld ✓ 🙂"],
		["empty text", ""],
		["binary", all],
		["empty binary", new Uint8Array(0)],
		["1 MiB text", "aé✓🙂".repeat(1 << 17) + "0123456789abcdé".repeat(1 << 15)],
		["16 MiB binary", big],
		["16 MiB text", "0123456789abcdé".repeat(1 << 20)],
	];
}

ws.onopen = async () => {
	result.opened = true;
	result.extensions = ws.extensions;
	result.protocol = ws.protocol;
	try {
		for (const [name, m] of messages()) {
			ws.send(m);
			const got = await next();
			if (got === null) { fail(name + ": closed before the echo"); break; }
			if (typeof m === "string") {
				if (typeof got !== "string") fail(name + ": echo is binary, want text");
				else if (got !== m) fail(name + ": echo of " + got.length + " UTF-16 units differs from the " + m.length + " sent");
			} else {
				if (typeof got === "string") fail(name + ": echo is text, want binary");
				else if (!sameBytes(new Uint8Array(got), m)) fail(name + ": echo of " + got.byteLength + " bytes differs from the " + m.length + " sent");
			}
		}
	} catch (e) {
		fail(String(e));
	}
	result.echoed = true;
};
</script>
`

// pageResult is window.result.
type pageResult struct {
	Errors      []string `json:"errors"`
	Echoed      bool     `json:"echoed"`
	Opened      bool     `json:"opened"`
	Closed      bool     `json:"closed"`
	Extensions  string   `json:"extensions"`
	CloseCode   int      `json:"closeCode"`
	CloseReason string   `json:"closeReason"`
	WasClean    bool     `json:"wasClean"`
}

// newBrowser starts headless Chromium for the test: Debian's binary, with
// the flags for running as root in a container, and extra. Its output and the page's
// log (network errors included) go to the test's log if the test fails.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := debianChromium
	if _, err := os.Stat(exe); err != nil {
		exe = needTool(t, "chromium", "chromium-browser")
	}
	out := &logBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	pageLog := &logBuffer{}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("the page's log:\n%s", pageLog)
			t.Logf("chromium's output:\n%s", out)
		}
	})
	// The first Run starts the browser and must not have a deadline.
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	}))
	if err != nil {
		t.Fatalf("starting %s: %v\n%s", exe, err, out)
	}
	go func() {
		for e, err := range entries {
			if err != nil {
				return
			}
			fmt.Fprintf(pageLog, "%s %s: %s\n", e.Entry.Source, e.Entry.Level, e.Entry.Text)
		}
	}()
	return ctx
}

// servePage makes the browser answer GET origin+"/" itself with html (and
// 404 anything else under origin), with the Fetch domain: the page then
// has wsecho's origin, which wsecho's default origin check wants, though
// wsecho serves no HTTP. A page the browser made up has no address it
// came from, so Chromium's local network access checks would block its
// WebSocket to the loopback address: the test grants the origin that
// permission ("loopback-network"; "local-network-access" in Chromium
// before 142).
func servePage(t *testing.T, ctx context.Context, origin, html string) {
	t.Helper()
	granted := 0
	var errs []error
	for _, name := range []string{"loopback-network", "local-network-access"} {
		err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name},
				Setting:    browser.PermissionSettingGranted,
				Origin:     origin,
			})
			return err
		}))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		} else {
			granted++
		}
	}
	if granted == 0 {
		t.Fatalf("granting the page local network access: %v", errs)
	}

	paused := chromedp.Events(ctx, fetch.RequestPaused)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{
			Patterns: []*fetch.RequestPattern{{URLPattern: origin + "/*"}},
		})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			p := fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 404, Body: []byte("not found")}
			if strings.TrimSuffix(ev.Request.URL, "/") == origin {
				p.ResponseCode = 200
				p.ResponseHeaders = []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}
				p.Body = []byte(html)
			}
			chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.FulfillRequest, p)
				return err
			}))
		}
	}()
}

// readResult polls until the page's predicate holds and returns
// window.result.
func readResult(t *testing.T, ctx context.Context, predicate string) pageResult {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(testWithin))); err != nil {
		r, _ := chromedp.Run(ctx, chromedp.Evaluate[pageResult](`window.result`))
		t.Fatalf("waiting for %s: %v; page: %+v", predicate, err, r)
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[pageResult](`window.result`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestChromium: headless Chromium loads a page of wsecho's origin that
// echoes text, binary and 16 MiB messages over a WebSocket; then SIGTERM:
// the page must see the close event with code 1001, and wsecho exit 0.
// Chromium offers permessage-deflate by itself: wsecho -deflate (its
// default) must accept it, -deflate=false must not.
func TestChromium(t *testing.T) {
	ctx := newBrowser(t)
	for _, deflate := range []bool{false, true} {
		t.Run(deflateName(deflate), func(t *testing.T) {
			s := startServer(t, fmt.Sprintf("-deflate=%v", deflate))
			tab, cancel := chromedp.NewContext(ctx) // a tab of its own
			defer cancel()
			origin := "http://" + s.Addr
			servePage(t, tab, origin, page)
			if err := chromedp.Do(tab, chromedp.Navigate(origin+"/")); err != nil {
				t.Fatal(err)
			}

			r := readResult(t, tab, `window.result && (window.result.echoed || window.result.closed)`)
			t.Logf("Sec-WebSocket-Extensions (the page's ws.extensions): %q", r.Extensions)
			if !r.Opened {
				t.Fatalf("the WebSocket did not open: %+v; wsecho logs:\n%s", r, s.logs)
			}
			if deflate {
				wantDeflate(t, r.Extensions)
			} else {
				wantNoExtension(t, r.Extensions)
			}
			for _, e := range r.Errors {
				t.Error(e)
			}
			if !r.Echoed || r.Closed {
				t.Fatalf("closed before the echoes: %+v", r)
			}

			s.Drain(t)
			r = readResult(t, tab, `window.result.closed`)
			if r.CloseCode != 1001 || !r.WasClean {
				t.Fatalf("after SIGTERM the page saw close %d %q (clean %v), want 1001", r.CloseCode, r.CloseReason, r.WasClean)
			}
			s.WaitExit0(t)
		})
	}
}
