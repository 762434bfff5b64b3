package main

import (
	"embed"
	"path"

	"github.com/shoalnet/shoal/http1"
)

// The page: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var web embed.FS

// asset is a file of the page.
type asset struct {
	body  []byte
	ctype string
}

var assets = func() map[string]asset {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
	}
	m := make(map[string]asset)
	for _, name := range []string{"index.html", "chat.js", "style.css"} {
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			panic(err)
		}
		m["/"+name] = asset{b, types[path.Ext(name)]}
	}
	m["/"] = m["/index.html"]
	return m
}()

// csp lets the page load only its own scripts and styles and connect
// only to its own origin (and its WebSocket).
const csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveStatic answers the page's files, and 404.
func serveStatic(w *http1.ResponseWriter, r *http1.Request, p string) {
	a, ok := assets[p]
	if !ok {
		httpError(w, 404, "not found")
		return
	}
	if m := string(r.Method); m != "GET" && m != "HEAD" {
		w.Header("Allow", "GET, HEAD")
		httpError(w, 405, "GET only")
		return
	}
	w.Header("Content-Type", a.ctype)
	w.Header("Cache-Control", "no-cache")
	w.Header("X-Content-Type-Options", "nosniff")
	w.Header("Content-Security-Policy", csp)
	w.Write(a.body)
}
