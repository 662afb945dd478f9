package peer

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
)

// Certificate is the gateway's DTLS identity, one for every viewer: a
// browser checks it against the answer's a=fingerprint only (RFC 8842), so
// nothing is gained by a key per session, and generating one costs more
// than the rest of a session's set-up.
type Certificate struct {
	tls tls.Certificate
	// Fingerprint is the a=fingerprint value, "sha-256 AB:CD:...".
	Fingerprint string
}

// NewCertificate makes a self-signed ECDSA P-256 certificate.
func NewCertificate() (*Certificate, error) {
	c, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return nil, fmt.Errorf("peer: dtls certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("peer: dtls certificate: %w", err)
	}
	fp, err := fingerprint.Fingerprint(leaf, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("peer: dtls certificate fingerprint: %w", err)
	}
	c.Leaf = leaf
	return &Certificate{tls: c, Fingerprint: "sha-256 " + fp}, nil
}
