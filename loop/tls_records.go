package loop

// What crypto/tls keeps of an idle connection depends on how its input
// came. A tls.Conn reads records into a bytes.Buffer (its raw input) that
// never shrinks, asking for 512 bytes of room beyond what it needs
// (readFromUntil) and taking whatever its net.Conn's Read gives: given
// several records, or the rest of one record and the start of the next,
// it grows past the record it is reading, and every later record that
// does not fit where the last one ended grows it again. Each handshake
// message is also gathered whole in a second buffer (its handshake
// buffer), grown the same way, as records bring its pieces.
//
// Two things keep both at the size of what they must hold:
//
//   - Read never hands over more than the record the input is in
//     (records.span), so the raw input is empty at every record boundary
//     and a record that fits its 576 bytes (the first Grow's size class)
//     never grows it.
//   - The ClientHello, the one handshake message a server takes in
//     plaintext, is cut into records of at most 512 bytes before
//     crypto/tls sees it (splitHello): about 1.5 KiB with a post-quantum
//     key share, it came in one record and grew the raw input to 2.6 KiB.
//     RFC 8446 5.1 lets any handshake message span records, and records
//     of type handshake carry nothing but the message, so crypto/tls reads
//     the same message (the transcript hashes the messages, not the
//     records). The pieces' sizes are the message's length halved until
//     they fit, so the handshake buffer, which doubles as they come, ends
//     at the message's size as it would have when written at once.
//
// What crypto/tls still keeps after that is the largest record the peer
// sent after the handshake (its raw input holds a whole record to decrypt
// it in place), its handshake buffer, the two AEAD states and the Conn
// itself. BenchmarkTLSIdleHeap measures it.

// recordHeader is a TLS record header's length: type, version, length.
const recordHeader = 5

// helloPiece is the most plaintext of the ClientHello a record carries
// once splitHello has cut it.
const helloPiece = 512

// records follows the record boundaries of a byte stream handed over in
// pieces. The zero value stands at the start of a record.
type records struct {
	left int32              // bytes left in the current record, once its header is known
	nh   uint8              // bytes of the current header seen, while left is 0
	hdr  [recordHeader]byte // the current header's bytes seen
}

// span reports how many of p, the next bytes of the stream, belong to the
// record they continue, and moves past them.
func (r *records) span(p []byte) int {
	if r.left == 0 {
		need := recordHeader - int(r.nh)
		if len(p) < need {
			r.nh += uint8(copy(r.hdr[r.nh:], p))
			return len(p)
		}
		copy(r.hdr[r.nh:], p[:need])
		r.left = int32(need + (int(r.hdr[3])<<8 | int(r.hdr[4])))
		r.nh = 0
	}
	n := min(len(p), int(r.left))
	r.left -= int32(n)
	return n
}

// splitHello returns in with its first record, a plaintext handshake
// record of size bytes (header not counted) that in holds whole, cut into
// records of at most helloPiece bytes. The pieces are the same size but
// the last: size halved until it is at most helloPiece, rounded up.
func splitHello(in []byte, size int) []byte {
	piece := size
	for piece > helloPiece {
		piece = (piece + 1) / 2
	}
	if piece == size {
		return in
	}
	pieces := (size + piece - 1) / piece
	out := make([]byte, 0, len(in)+(pieces-1)*recordHeader)
	body, rest := in[recordHeader:recordHeader+size], in[recordHeader+size:]
	for len(body) > 0 {
		k := min(piece, len(body))
		out = append(out, in[0], in[1], in[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return append(out, rest...)
}
