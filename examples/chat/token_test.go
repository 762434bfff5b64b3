package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	tokenKey = []byte("0123456789abcdef0123456789abcdef")
	tokenNow = time.Unix(1_800_000_000, 0)
)

// forge makes a token of any header and payload, signed with key.
func forge(key []byte, header, payload string) string {
	signed := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return signed + "." + b64.EncodeToString(m.Sum(nil))
}

func TestTokenRoundTrip(t *testing.T) {
	for _, user := range []string{"alice", "zoë", "李", "a.b-c_d", strings.Repeat("é", maxUserLen)} {
		tok := signToken(tokenKey, user, tokenNow.Add(time.Minute))
		c, err := parseToken(tokenKey, tok, tokenNow)
		if err != nil || c.Sub != user || c.Exp != tokenNow.Add(time.Minute).Unix() {
			t.Errorf("%q: %+v, %v", user, c, err)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	good := signToken(tokenKey, "alice", tokenNow.Add(time.Minute))
	parts := strings.Split(good, ".")
	hs256 := `{"alg":"HS256","typ":"JWT"}`
	claims := `{"sub":"alice","exp":1800000060}`
	for _, c := range []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrTokenMalformed},
		{"one part", "abc", ErrTokenMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrTokenMalformed},
		{"four parts", good + ".x", ErrTokenMalformed},
		{"header not base64", "!!." + parts[1] + "." + parts[2], ErrTokenMalformed},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], ErrTokenMalformed},
		{"header not JSON", forge(tokenKey, `alg HS256`, claims), ErrTokenMalformed},
		{"alg none", forge(tokenKey, `{"alg":"none"}`, claims), ErrTokenAlg},
		{"alg none unsigned", b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", ErrTokenAlg},
		{"alg RS256", forge(tokenKey, `{"alg":"RS256"}`, claims), ErrTokenAlg},
		{"alg lower case", forge(tokenKey, `{"alg":"hs256"}`, claims), ErrTokenAlg},
		{"no alg", forge(tokenKey, `{"typ":"JWT"}`, claims), ErrTokenAlg},
		{"typ other", forge(tokenKey, `{"alg":"HS256","typ":"JWE"}`, claims), ErrTokenMalformed},
		{"other key", signToken([]byte("another key"), "alice", tokenNow.Add(time.Minute)), ErrTokenSignature},
		{"signature cut", good[:len(good)-3], ErrTokenSignature},
		{"signature not base64", parts[0] + "." + parts[1] + ".***", ErrTokenMalformed},
		{"signature of other claims", parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"mallory","exp":1800000060}`)) + "." + parts[2], ErrTokenSignature},
		{"payload not JSON", forge(tokenKey, hs256, `sub=alice`), ErrTokenMalformed},
		{"no sub", forge(tokenKey, hs256, `{"exp":1800000060}`), ErrTokenMalformed},
		{"bad sub", forge(tokenKey, hs256, `{"sub":"a b","exp":1800000060}`), ErrTokenMalformed},
		{"no exp", forge(tokenKey, hs256, `{"sub":"alice"}`), ErrTokenMalformed},
		{"exp not a number", forge(tokenKey, hs256, `{"sub":"alice","exp":"soon"}`), ErrTokenMalformed},
		{"expired", signToken(tokenKey, "alice", tokenNow), ErrTokenExpired},
		{"long ago", signToken(tokenKey, "alice", time.Unix(1, 0)), ErrTokenExpired},
		{"too long", good + strings.Repeat("A", maxTokenLen), ErrTokenMalformed},
	} {
		if _, err := parseToken(tokenKey, c.tok, tokenNow); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzParseToken: no input makes the parser panic, and what it accepts
// is what signToken would make of its claims with the key (the header
// aside): a token is accepted only when it is signed.
func FuzzParseToken(f *testing.F) {
	f.Add(signToken(tokenKey, "alice", tokenNow.Add(time.Minute)))
	f.Add(forge(tokenKey, `{"alg":"HS256"}`, `{"sub":"bob","exp":1800000060,"extra":[1,{"a":null}]}`))
	f.Add(forge(tokenKey, `{"alg":"none"}`, `{"sub":"bob","exp":1800000060}`))
	f.Add(forge(tokenKey, `{"alg":"HS256"}`, `{"sub":"bob","exp":1e99}`))
	f.Add("..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := parseToken(tokenKey, tok, tokenNow)
		if err != nil {
			if c != (claims{}) {
				t.Fatalf("claims %+v with error %v", c, err)
			}
			return
		}
		if validUser(c.Sub) != nil || c.Exp <= tokenNow.Unix() {
			t.Fatalf("accepted claims %+v", c)
		}
		i := strings.LastIndexByte(tok, '.')
		m := hmac.New(sha256.New, tokenKey)
		m.Write([]byte(tok[:i]))
		if b64.EncodeToString(m.Sum(nil)) != tok[i+1:] {
			t.Fatalf("accepted %q without its signature", tok)
		}
		if _, err := parseToken([]byte("another key"), tok, tokenNow); !errors.Is(err, ErrTokenSignature) {
			t.Fatalf("accepted with another key: %v", err)
		}
	})
}

func TestValidUser(t *testing.T) {
	for _, u := range []string{"a", "Alice", "zoë", "李小龙", "a.b", "x_y-z", "0", strings.Repeat("é", maxUserLen)} {
		if err := validUser(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
	for _, u := range []string{"", " ", "a b", "a\nb", "<b>", "a\"b", strings.Repeat("x", maxUserLen+1), "\xff", "a\u200bb"} {
		if validUser(u) == nil {
			t.Errorf("%q accepted", u)
		}
	}
}
