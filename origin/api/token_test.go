package api

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// fixedNow is the tests' clock; nothing in this package reads the real one.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func TestTokens(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	a := mustCreate(t, s, sample("live", "a"))
	b := mustCreate(t, s, sample("live", "b"))
	tok, exp, err := s.MintToken(a.ID, time.Hour, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(fixedNow.Add(time.Hour)) {
		t.Errorf("expires = %v", exp)
	}
	if len(tok) > 64 || strings.ContainsAny(tok, "+/=%") {
		t.Errorf("token %q is not compact and URL-safe", tok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	tamper := func(i int) string {
		c := append([]byte(nil), raw...)
		c[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(c)
	}
	other, _ := newTokenSigner(append([]byte("another key, 32 bytes or longer"), 0))
	tests := []struct {
		name, token, id string
		now             time.Time
		want            TokenReason // "" = valid
	}{
		{"valid", tok, a.ID, fixedNow, ""},
		{"valid a second before expiry", tok, a.ID, exp.Add(-time.Second), ""},
		{"expired at expiry", tok, a.ID, exp, TokenExpired},
		{"expired later", tok, a.ID, exp.Add(time.Hour), TokenExpired},
		{"other distribution", tok, b.ID, fixedNow, TokenWrongDistribution},
		{"tampered expiry", tamper(3), a.ID, fixedNow, TokenBadSignature},
		{"tampered id", tamper(tokenHeaderLen + 2), a.ID, fixedNow, TokenBadSignature},
		{"tampered mac", tamper(len(raw) - 1), a.ID, fixedNow, TokenBadSignature},
		{"other key", other.mint(a.ID, exp), a.ID, fixedNow, TokenBadSignature},
		{"empty", "", a.ID, fixedNow, TokenMalformed},
		{"not base64", "!!!!", a.ID, fixedNow, TokenMalformed},
		{"padded base64", tok + "=", a.ID, fixedNow, TokenMalformed},
		{"too short", tok[:20], a.ID, fixedNow, TokenMalformed},
		{"too long", tok + strings.Repeat("A", 200), a.ID, fixedNow, TokenMalformed},
		{"wrong version", tamper(0), a.ID, fixedNow, TokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.VerifyToken(tc.token, tc.id, tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want valid", err)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tc.want {
				t.Fatalf("err = %v, want reason %q", err, tc.want)
			}
		})
	}
}

func TestMintTokenLimits(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	d := mustCreate(t, s, sample("live", "a"))
	if _, _, err := s.MintToken("unknown", time.Hour, fixedNow); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	for _, ttl := range []time.Duration{0, time.Millisecond, MaxTokenTTL + time.Second} {
		if _, _, err := s.MintToken(d.ID, ttl, fixedNow); err == nil {
			t.Errorf("ttl %s accepted", ttl)
		}
	}
	// The signature is checked before the content: a forged token for the
	// right distribution with a far expiry is still a bad signature.
	forged := (&tokenSigner{key: []byte("not the key not the key not the key")}).mint(d.ID, fixedNow.Add(MaxTokenTTL))
	if err := s.VerifyToken(forged, d.ID, fixedNow); tokenReason(err) != TokenBadSignature {
		t.Errorf("forged: %v", err)
	}
}
