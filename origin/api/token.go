package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Viewer token layout, before base64url (RFC 4648 section 5, no padding):
//
//	version (1 byte) | expiry, Unix seconds (8 bytes, big endian) | distribution id | MAC (16 bytes)
//
// MAC is HMAC-SHA256 (RFC 2104) over everything before it, truncated to 128
// bits as RFC 2104 section 5 allows (the length RFC 4868 uses). A token for a
// 22-character id is 63 characters, safe in a URL query without escaping.
const (
	tokenVersion    byte = 1
	tokenMACLen          = 16
	tokenHeaderLen       = 1 + 8
	tokenMinRawLen       = tokenHeaderLen + 1 + tokenMACLen
	tokenMaxRawLen       = tokenHeaderLen + 64 + tokenMACLen
	minTokenKeyLen       = 32           // bytes: HMAC-SHA256's block of security (RFC 2104 section 3)
	tokenKeyFileLen      = 32           // bytes the generated key has
	maxUnix              = 253402300799 // expiry bound (year 9999), so time arithmetic cannot overflow
)

// TokenReason says why a viewer token was refused.
type TokenReason string

// Why a token is refused; a viewer sees the reason in the 401's body.
const (
	TokenMalformed         TokenReason = "malformed"
	TokenBadSignature      TokenReason = "bad signature"
	TokenWrongDistribution TokenReason = "issued for another distribution"
	TokenExpired           TokenReason = "expired"
)

// TokenError is a refused token; errors.As it to read the Reason.
type TokenError struct {
	Reason TokenReason
}

func (e *TokenError) Error() string { return "viewer token " + string(e.Reason) }

// tokenSigner mints and verifies viewer tokens with one HMAC key.
type tokenSigner struct {
	key []byte
}

func newTokenSigner(key []byte) (*tokenSigner, error) {
	if len(key) < minTokenKeyLen {
		return nil, fmt.Errorf("viewer token key: %d bytes, need at least %d", len(key), minTokenKeyLen)
	}
	return &tokenSigner{key: append([]byte(nil), key...)}, nil
}

func (s *tokenSigner) mac(msg []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write(msg)
	return h.Sum(nil)[:tokenMACLen]
}

// mint makes a token for distributionID valid until expires (to the second).
func (s *tokenSigner) mint(distributionID string, expires time.Time) string {
	raw := make([]byte, tokenHeaderLen, tokenHeaderLen+len(distributionID)+tokenMACLen)
	raw[0] = tokenVersion
	binary.BigEndian.PutUint64(raw[1:tokenHeaderLen], uint64(expires.Unix()))
	raw = append(raw, distributionID...)
	raw = append(raw, s.mac(raw)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// open checks a token's shape and signature and returns what it carries;
// it says nothing about expiry or which distribution is asking.
func (s *tokenSigner) open(token string) (distributionID string, expires time.Time, err error) {
	if len(token) > base64.RawURLEncoding.EncodedLen(tokenMaxRawLen) {
		return "", time.Time{}, &TokenError{Reason: TokenMalformed}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < tokenMinRawLen || raw[0] != tokenVersion {
		return "", time.Time{}, &TokenError{Reason: TokenMalformed}
	}
	body, sum := raw[:len(raw)-tokenMACLen], raw[len(raw)-tokenMACLen:]
	if subtle.ConstantTimeCompare(sum, s.mac(body)) != 1 {
		return "", time.Time{}, &TokenError{Reason: TokenBadSignature}
	}
	exp := binary.BigEndian.Uint64(body[1:tokenHeaderLen])
	if exp > uint64(maxUnix) {
		return "", time.Time{}, &TokenError{Reason: TokenMalformed}
	}
	return string(body[tokenHeaderLen:]), time.Unix(int64(exp), 0), nil
}

// verify checks token for distributionID at now. The signature is checked
// first, in constant time, so a forged token learns nothing else.
func (s *tokenSigner) verify(token, distributionID string, now time.Time) error {
	id, expires, err := s.open(token)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(distributionID)) != 1 {
		return &TokenError{Reason: TokenWrongDistribution}
	}
	if !now.Before(expires) {
		return &TokenError{Reason: TokenExpired}
	}
	return nil
}

// tokenReason extracts the reason of a verify error (TokenMalformed for others).
func tokenReason(err error) TokenReason {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	return TokenMalformed
}

// Viewer token lifetimes: long enough for an event, short enough that a
// leaked token does not outlive it (there is no revocation but deleting the
// distribution or rotating the key).
const (
	DefaultTokenTTL = 6 * time.Hour
	MaxTokenTTL     = 7 * 24 * time.Hour
)

// MintToken makes a viewer token for distribution id, valid for ttl
// (whole seconds, 1 s to MaxTokenTTL) from now.
func (s *Store) MintToken(id string, ttl time.Duration, now time.Time) (token string, expires time.Time, err error) {
	if _, ok := s.snap.Load().byID[id]; !ok {
		return "", time.Time{}, ErrNotFound
	}
	if ttl < time.Second || ttl > MaxTokenTTL {
		return "", time.Time{}, fmt.Errorf("viewer token ttl %s: must be from 1s to %s", ttl, MaxTokenTTL)
	}
	expires = time.Unix(now.Unix()+int64(ttl/time.Second), 0).UTC()
	return s.signer.mint(id, expires), expires, nil
}

// VerifyToken checks a viewer token for distribution id at now; a refusal
// is a *TokenError whose Reason says why.
func (s *Store) VerifyToken(token, id string, now time.Time) error {
	return s.signer.verify(token, id, now)
}
