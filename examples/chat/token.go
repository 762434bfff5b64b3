package main

// Tokens are HS256 JSON Web Tokens (RFC 7519) made and checked here with
// the standard library, not a JWT package: what the chat needs is one
// algorithm and two claims, a few dozen lines, and taking only HS256
// leaves no room for the confusions of the general libraries (a token
// that names "none", or RS256 verified with the HMAC key).

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of parseToken; each is why a connection is refused.
var (
	ErrTokenMalformed = errors.New("chat: token malformed")
	ErrTokenAlg       = errors.New("chat: token algorithm is not HS256")
	ErrTokenSignature = errors.New("chat: token signature invalid")
	ErrTokenExpired   = errors.New("chat: token expired")
)

// maxTokenLen bounds what parseToken looks at: a chat token is about 150
// bytes.
const maxTokenLen = 2048

// claims is what a token says: who (sub) and until when (exp, Unix
// seconds).
type claims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

// b64 is base64url without padding, strict: the unused bits of the last
// character must be zero, so that a token has one spelling only.
var b64 = base64.RawURLEncoding.Strict()

// tokenHeader is the header of every token made here.
var tokenHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// signToken returns a token for user valid until exp.
func signToken(key []byte, user string, exp time.Time) string {
	payload, _ := json.Marshal(claims{Sub: user, Exp: exp.Unix()})
	signed := tokenHeader + "." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(mac(key, signed))
}

func mac(key []byte, signed string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// parseToken checks tok with key at now and returns its claims: the
// header must name HS256, the signature must match, and the token must
// name a valid user and not have expired.
func parseToken(key []byte, tok string, now time.Time) (claims, error) {
	if len(tok) > maxTokenLen {
		return claims{}, ErrTokenMalformed
	}
	h, rest, ok1 := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return claims{}, ErrTokenMalformed
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := decodePart(h, &hdr); err != nil {
		return claims{}, err
	}
	if hdr.Alg != "HS256" {
		return claims{}, ErrTokenAlg
	}
	if hdr.Typ != "" && hdr.Typ != "JWT" {
		return claims{}, ErrTokenMalformed
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return claims{}, ErrTokenMalformed
	}
	if !hmac.Equal(sig, mac(key, tok[:len(h)+1+len(p)])) {
		return claims{}, ErrTokenSignature
	}
	var c claims
	if err := decodePart(p, &c); err != nil {
		return claims{}, err
	}
	if validUser(c.Sub) != nil || c.Exp == 0 {
		return claims{}, ErrTokenMalformed
	}
	if now.Unix() >= c.Exp {
		return claims{}, ErrTokenExpired
	}
	return c, nil
}

// decodePart decodes one base64url part of a token as a JSON object.
func decodePart(part string, v any) error {
	raw, err := b64.DecodeString(part)
	if err != nil {
		return ErrTokenMalformed
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return ErrTokenMalformed
	}
	return nil
}

// maxUserLen bounds a user name, in characters.
const maxUserLen = 32

// errBadUser is a user name that is not allowed.
var errBadUser = errors.New("chat: user name: 1 to 32 letters, digits, '_', '-' or '.'")

// validUser checks a user name: 1 to maxUserLen letters (of any script),
// digits, '_', '-' or '.'.
func validUser(u string) error {
	if u == "" || !utf8.ValidString(u) || utf8.RuneCountInString(u) > maxUserLen {
		return errBadUser
	}
	for _, r := range u {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' {
			return errBadUser
		}
	}
	return nil
}
