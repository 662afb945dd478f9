package api

import (
	"encoding/base64"
	"fmt"
	"io"
)

// idBytes of randomness make an id unguessable (128 bits) yet short:
// 22 URL-safe characters.
const (
	idBytes = 16
	idLen   = 22 // base64.RawURLEncoding.EncodedLen(idBytes)
)

// newID draws a distribution id from random (crypto/rand in production).
func newID(random io.Reader) (string, error) {
	var b [idBytes]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("distribution id: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validID reports whether s has the shape of an id; anything else is an
// unknown id without a lookup.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}
