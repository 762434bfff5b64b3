package ws

import "unicode/utf8"

// utf8State validates UTF-8 that arrives in pieces (the fragments of a
// text message, or the reads of one frame): a code point may be split
// anywhere, and a byte that no valid text can continue fails at once,
// not at the end of the message (Autobahn 6.4: fail fast).
type utf8State struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // the range of the next one (narrower after E0, ED, F0, F4)
}

// feed checks p as the continuation of what came before. It reports
// false at the first byte that makes the text invalid.
func (s *utf8State) feed(p []byte) bool {
	// Finish a code point split by the previous piece.
	for s.need > 0 && len(p) > 0 {
		if p[0] < s.lo || p[0] > s.hi {
			return false
		}
		s.need--
		s.lo, s.hi = 0x80, 0xBF
		p = p[1:]
	}
	if len(p) == 0 {
		return true
	}
	// The body: everything but a code point cut at the end, which the
	// library checks quickly; then the cut one byte by byte.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if b := p[i]; b < 0x80 || b >= 0xC0 { // not a continuation byte
			if b >= 0xC0 && !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	for _, b := range p[cut:] {
		if !s.step(b) {
			return false
		}
	}
	return true
}

// step takes one byte of a code point that the piece cuts.
func (s *utf8State) step(b byte) bool {
	if s.need > 0 {
		if b < s.lo || b > s.hi {
			return false
		}
		s.need--
		s.lo, s.hi = 0x80, 0xBF
		return true
	}
	s.lo, s.hi = 0x80, 0xBF
	switch {
	case b < 0x80:
	case b >= 0xC2 && b <= 0xDF:
		s.need = 1
	case b == 0xE0:
		s.need, s.lo = 2, 0xA0
	case b == 0xED: // no surrogates
		s.need, s.hi = 2, 0x9F
	case b >= 0xE1 && b <= 0xEF:
		s.need = 2
	case b == 0xF0:
		s.need, s.lo = 3, 0x90
	case b >= 0xF1 && b <= 0xF3:
		s.need = 3
	case b == 0xF4: // nothing above U+10FFFF
		s.need, s.hi = 3, 0x8F
	default:
		return false
	}
	return true
}

// complete reports whether the text ended on a code point boundary.
func (s *utf8State) complete() bool { return s.need == 0 }

func (s *utf8State) reset() { *s = utf8State{} }
