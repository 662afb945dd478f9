// Package peer is the lean WebRTC transport for viewers: ICE-lite (RFC 8445
// section 2.5), DTLS-SRTP (RFC 5764) and SRTP from pion's libraries, with no
// PeerConnection.
//
// Each part is pure logic over datagrams the caller reads and writes: ICE
// answers connectivity checks (see ICE.Handle) and tells the caller where
// media goes and whether the peer still consents to receive it.
package peer
