// Package http1 is HTTP/1.1 for the event loop (RFC 9112): an incremental,
// zero-copy request parser and a chunked-body decoder, held to what
// net/http accepts and rejects.
//
// Parser.Head finds a request head in a connection's unconsumed input,
// however it was split, searching each byte once, and fills a Request
// whose fields are views into that input. Bare LF line endings are
// accepted in the head (RFC 9112 2.2), as are empty lines before the
// request line. Every rejection is an *Error with the status to answer
// (compare with errors.Is against the Err values), after which the
// connection must close, its framing being unknown:
//
//   - a malformed request line, a header line without a colon or with
//     whitespace before it, obsolete line folding, a bare CR, control
//     bytes in a value: 400;
//   - HTTP/1.1 without Host, or two Hosts: 400;
//   - Content-Length with Transfer-Encoding (request smuggling), two
//     Content-Lengths, or one that is not plain digits: 400;
//   - a Transfer-Encoding other than chunked: 501; an Expect other than
//     100-continue: 417; a version other than HTTP/1.x: 505;
//   - a request line over Limits.MaxRequestLine: 414; a head over
//     Limits.MaxHeaderBytes or with more than Limits.MaxHeaders fields:
//     431, as soon as the buffered input passes the limit; a declared
//     body over Limits.MaxBody: 413 before any of it is read.
//
// Chunked decodes a chunked body as it arrives, returning views of its
// data: a bad chunk size or a chunk line not ended by CRLF is a 400, a
// body past its limit a 413.
package http1
