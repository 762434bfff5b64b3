package http1

import "bytes"

// Limits bound what one request may make a server buffer. Zero fields take
// the defaults.
type Limits struct {
	MaxRequestLine int   // bytes of the request line (default 8 KiB); longer: 414
	MaxHeaderBytes int   // bytes of the whole head (default 32 KiB); more: 431
	MaxHeaders     int   // header fields (default 100); more: 431
	MaxBody        int64 // bytes of a body, declared or chunked (default 4 MiB); more: 413
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{MaxRequestLine: 8 << 10, MaxHeaderBytes: 32 << 10, MaxHeaders: 100, MaxBody: 4 << 20}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxRequestLine > 0 {
		d.MaxRequestLine = l.MaxRequestLine
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxHeaders > 0 {
		d.MaxHeaders = l.MaxHeaders
	}
	if l.MaxBody > 0 {
		d.MaxBody = l.MaxBody
	}
	return d
}

// Header is one header field; Name and Value are views into the input,
// Value without the surrounding whitespace.
type Header struct{ Name, Value []byte }

// Request is a parsed request head. Its slices are views into the input
// passed to Parser.Head, valid as long as that input is.
type Request struct {
	Method, Target []byte
	Minor          int // the x of HTTP/1.x: 0 or 1 (HTTP/1.2 and up are served as 1.1)
	Headers        []Header
	Host           []byte
	ContentLength  int64 // the declared body length; 0 without one, and with Chunked
	Chunked        bool  // the body is chunked (Chunked decodes it)
	KeepAlive      bool  // another request may follow on the connection
	Expect100      bool  // the client waits for "100 Continue" before sending the body
	// Body is the whole body (decoded when chunked), for a Server's
	// handler; Parser.Head leaves it nil.
	Body []byte
}

// Path returns the target without its query.
func (r *Request) Path() []byte {
	if i := bytes.IndexByte(r.Target, '?'); i >= 0 {
		return r.Target[:i]
	}
	return r.Target
}

// Header returns the value of the first header field named name (ASCII
// case-insensitive), or nil.
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		if equalFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

func (r *Request) reset() {
	h := r.Headers[:0]
	clear(r.Headers)
	*r = Request{Headers: h}
}

// Parser finds and parses the request heads of one connection's input
// (RFC 9112). It remembers how far it has searched for the end of a head,
// so a head arriving a byte at a time costs each byte once, and it fails
// as soon as a limit is passed, not once a whole head is buffered.
// Its zero value uses DefaultLimits.
type Parser struct {
	lim     Limits
	limSet  bool
	scanned int  // bytes of the input searched so far
	start   int  // where the request line begins (after leading empty lines)
	line    int  // where the line being searched begins
	inHead  bool // the request line has begun
	lineEnd bool // the request line has ended
}

// NewParser returns a parser with the given limits.
func NewParser(l Limits) *Parser { return &Parser{lim: l.withDefaults(), limSet: true} }

// Head parses the request head at the start of in, the connection's
// unconsumed input: the same bytes, and more, on every call until it
// returns a head or an error. It returns n > 0 when in[:n] is a whole head
// (leading empty lines included) and req is filled; n == 0 and a nil error
// when more input is needed; or an *Error.
func (p *Parser) Head(in []byte, req *Request) (int, error) {
	if !p.limSet {
		p.lim, p.limSet = DefaultLimits, true
	}
	end, err := p.scan(in)
	if end == 0 || err != nil {
		return 0, err
	}
	start := p.start
	p.scanned, p.start, p.line, p.inHead, p.lineEnd = 0, 0, 0, false, false
	req.reset()
	if err := parseHead(in[start:end], req, &p.lim); err != nil {
		return 0, err
	}
	return end, nil
}

// scan searches in for the end of the head from where the last call
// stopped; it returns the end (0: not yet) and applies the size limits.
func (p *Parser) scan(in []byte) (int, error) {
	for p.scanned < len(in) {
		i := bytes.IndexByte(in[p.scanned:], '\n')
		if i < 0 {
			p.scanned = len(in)
			break
		}
		nl := p.scanned + i
		p.scanned = nl + 1
		line := in[p.line:nl]
		p.line = p.scanned
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		switch {
		case !p.inHead && len(line) == 0:
			p.start = p.scanned // an empty line before the request line: ignored (RFC 9112 2.2)
		case !p.inHead:
			p.inHead, p.lineEnd = true, true
			if nl-p.start > p.lim.MaxRequestLine {
				return 0, ErrURITooLong
			}
		case len(line) == 0:
			if nl-p.start > p.lim.MaxHeaderBytes {
				return 0, ErrHeadersTooLarge
			}
			return p.scanned, nil
		}
	}
	// Not a whole head yet: fail as soon as what is buffered passes a limit.
	switch {
	case !p.lineEnd && len(in)-p.start > p.lim.MaxRequestLine:
		return 0, ErrURITooLong
	case len(in)-p.start > p.lim.MaxHeaderBytes:
		return 0, ErrHeadersTooLarge
	case !p.inHead && p.start > p.lim.MaxHeaderBytes:
		return 0, ErrRequestLine.with("too many empty lines")
	}
	return 0, nil
}

// parseHead parses a whole head: the request line and the header lines,
// each ended by LF or CRLF, then the empty line.
func parseHead(h []byte, req *Request, lim *Limits) error {
	line, rest := nextLine(h)
	if err := parseRequestLine(line, req); err != nil {
		return err
	}
	var cl, te []byte
	hosts, cls := 0, 0
	for {
		line, rest = nextLine(rest)
		if line == nil {
			return ErrBadHeader.with("bare CR")
		}
		if len(line) == 0 {
			break
		}
		if len(req.Headers) == lim.MaxHeaders {
			return ErrHeadersTooLarge.with("too many fields")
		}
		name, value, err := parseField(line)
		if err != nil {
			return err
		}
		req.Headers = append(req.Headers, Header{Name: name, Value: value})
		switch len(name) { // the fields the server reads; most are none of them
		case 4, 6, 10, 14, 17:
		default:
			continue
		}
		switch {
		case equalFold(name, "Host"):
			if !validHost(value) {
				return ErrBadHost.with(quote(value))
			}
			hosts++
			req.Host = value
		case equalFold(name, "Content-Length"):
			cls++
			cl = value
		case equalFold(name, "Transfer-Encoding"):
			if te != nil {
				return ErrTransferEncoding.with("more than one field")
			}
			te = value
		case equalFold(name, "Connection"):
			for tok := range tokens(value) {
				switch {
				case equalFold(tok, "close"):
					req.KeepAlive = false
				case equalFold(tok, "keep-alive") && req.Minor == 0:
					req.KeepAlive = true
				}
			}
		case equalFold(name, "Expect"):
			if !equalFold(value, "100-continue") {
				return ErrExpectation
			}
			req.Expect100 = req.Minor == 1
		}
	}
	switch {
	case hosts > 1:
		return ErrDuplicateHost
	case hosts == 0 && req.Minor == 1:
		return ErrMissingHost
	case te != nil && cls > 0:
		return ErrSmuggling
	case cls > 1:
		return ErrContentLength.with("more than one field")
	case te != nil:
		if !equalFold(te, "chunked") {
			return ErrTransferEncoding.with(string(te))
		}
		req.Chunked = true
		if req.Minor == 0 { // RFC 9112 6.1: framing a 1.0 peer may not share; close after it
			req.KeepAlive = false
		}
	case cls == 1:
		n, ok := parseLength(cl)
		if !ok {
			return ErrContentLength.with(quote(cl))
		}
		if n > lim.MaxBody {
			return ErrBodyTooLarge
		}
		req.ContentLength = n
	}
	return nil
}

// nextLine splits h at its first LF, dropping a CR before it. A CR
// anywhere else in the line makes line nil.
func nextLine(h []byte) (line, rest []byte) {
	i := bytes.IndexByte(h, '\n')
	if i < 0 {
		return nil, nil
	}
	line, rest = h[:i], h[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, rest
	}
	return line, rest
}

func parseRequestLine(line []byte, req *Request) error {
	if line == nil {
		return ErrRequestLine.with("bare CR")
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return ErrRequestLine.with("method")
	}
	req.Method = line[:sp]
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return ErrRequestLine.with("target")
	}
	req.Target = rest[:sp]
	for _, b := range req.Target {
		if b <= ' ' || b == 0x7f {
			return ErrRequestLine.with("target")
		}
	}
	// origin-form, asterisk-form, absolute-form, or authority-form for
	// CONNECT (RFC 9112 3.2), as net/http's url.ParseRequestURI allows.
	switch t := req.Target; {
	case t[0] == '/', string(t) == "*", string(req.Method) == "CONNECT", bytes.Contains(t, []byte("://")):
	default:
		return ErrRequestLine.with("target form")
	}
	v := rest[sp+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return ErrRequestLine.with("version")
	}
	if v[5] != '1' {
		return ErrVersion
	}
	req.Minor = min(int(v[7]-'0'), 1)
	req.KeepAlive = req.Minor == 1
	return nil
}

// parseField splits a header line into its name and its value without
// the optional whitespace around it.
func parseField(line []byte) (name, value []byte, err error) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return nil, nil, ErrBadHeader.with("obsolete line folding")
		}
		return nil, nil, ErrBadHeader.with("no colon")
	}
	name = line[:colon]
	if !isToken(name) { // whitespace before the colon included (RFC 9112 5.1)
		return nil, nil, ErrBadHeader.with("field name " + quote(name))
	}
	value = line[colon+1:]
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	for _, b := range value {
		if b < ' ' && b != '\t' || b == 0x7f {
			return nil, nil, ErrBadHeader.with("control byte in the value of " + quote(name))
		}
	}
	return name, value, nil
}

// parseLength parses a Content-Length: digits only, no sign, no list.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if !isDigit(b) {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

// tokens yields the comma-separated elements of a list value, trimmed.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			tok := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			tok = bytes.Trim(tok, " \t")
			if len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// validHost reports whether a Host value has only the bytes of
// uri-host [":" port] (RFC 3986 3.2.2: unreserved, sub-delims,
// pct-encoding, and the brackets and colons of IP literals): as lenient
// as net/http, which checks the bytes, not the grammar.
func validHost(v []byte) bool {
	for _, b := range v {
		if !hostByte[b] {
			return false
		}
	}
	return true
}

var hostByte = asciiSet("-._~" + "!$&'()*+,;=" + "%:[]")

// asciiSet returns a table of the ASCII letters and digits and the bytes
// of extra.
func asciiSet(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for i := range len(extra) {
		t[extra[i]] = true
	}
	return t
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// tchar holds the bytes of an RFC 9110 token.
var tchar = asciiSet("!#$%&'*+-.^_`|~")

// equalFold is ASCII case-insensitive equality, without allocating.
func equalFold[T ~string | ~[]byte](b T, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if l := x | 0x20; l != y|0x20 || l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}

func quote(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return "\"" + string(b) + "\""
}
