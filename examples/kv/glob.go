package main

// matchGlob reports whether s matches the glob pattern p the way Redis's
// stringmatchlen does (KEYS, SCAN MATCH, CONFIG GET): * any run of bytes,
// ? any one byte, [abc] [^abc] [a-z] classes, \ escapes the next byte.
// It keeps Redis's quirks: a class compares bytes as C's signed char, a
// range may be written backwards ([z-a]), an unterminated class ends at
// the end of the pattern. The recursion of * is cut short as in Redis, so
// hostile patterns cost polynomial, not exponential, time.
func matchGlob(p, s []byte) bool {
	skipLonger := false
	return globMatch(p, s, &skipLonger, 0)
}

func globMatch(p, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false // protection against abusive patterns, as in Redis
	}
	// at is p[i], or 0 past the end: Redis reads the pattern's C terminator.
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && at(1) == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatch(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := at(0) == '^'
			if not {
				p = p[1:]
			}
			match := false
			c := int(int8(s[0]))
			for {
				if at(0) == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if at(0) == ']' {
					break
				} else if len(p) == 0 {
					// An unterminated class: Redis steps back so that the
					// step past ']' below leaves the pattern empty.
					p = nil
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end := int(int8(p[0])), int(int8(p[2]))
					if start > end {
						start, end = end, start
					}
					p = p[2:]
					if c >= start && c <= end {
						match = true
					}
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if len(p) == 0 {
				// The class ran to the end of the pattern: Redis's final
				// step past it leaves nothing.
				return len(s) == 0
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
