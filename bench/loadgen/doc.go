// Package loadgen is a lean WHEP viewer for load generation: enough of a
// WebRTC receiver to hold a real session on the gateway, at a small fraction
// of the CPU a pion PeerConnection costs, so that one small machine can run a
// thousand viewers next to the gateway it measures.
//
// A viewer does everything the gateway can observe for real:
//   - it POSTs an SDP offer (BUNDLE, H264 + Opus, recvonly) and DELETEs the
//     session resource when closed;
//   - ICE by hand (pion/stun): it is the controlling agent, nominates the
//     gateway's host candidate with USE-CANDIDATE, and answers the gateway's
//     connectivity and consent checks for its whole life;
//   - a DTLS handshake (pion/dtls, client role), with the server certificate
//     checked against the answer's fingerprint, and the SRTP keys exported
//     from it (RFC 5764).
//
// What it does not do is decrypt: after the first keyframe has been
// decrypted and found whole (to measure time to first frame), packets are
// only classified by their first byte (RFC 7983) and counted from their
// cleartext RTP header. One viewer is one UDP socket and one reader
// goroutine (which a Drainer relieves, below), with no allocation per
// packet once the first frame is in.
//
// Until then the reader takes each datagram as it arrives, so arrival times
// are exact. After it, on Linux, the socket leaves Go's netpoller (which
// would wake a thread per datagram) and is drained with recvmmsg once per
// Config.ReadInterval, every viewer on the same clock tick, so that a
// thousand viewers cost the process a few dozen wake-ups a second rather
// than a few hundred thousand: by the viewer's reader goroutine, or, for
// viewers sharing a Drainer, by its one goroutine, one viewer after the
// other. Consent checks are answered at the next tick, well within the
// gateway's patience.
//
// On Linux the socket has UDP_GRO on: the gateway sends each viewer's
// packets in UDP GSO trains, which the receiving kernel would otherwise
// split into datagrams, on loopback in the gateway's own system call,
// charging the gateway for work that viewers' machines do. A train then
// arrives as one datagram, with its segment size in a control message, and
// the viewer cuts it up and counts each packet as if it had come alone
// (Stats.Trains says how many came so). Such a datagram can be 64 KiB, and
// must be read whole: a viewer that drains its own socket keeps a buffer
// that size and reads one datagram per system call, a Drainer has one set
// of buffers for all its viewers. Where the kernel refuses UDP_GRO, the
// viewer reads as before, datagram by datagram.
package loadgen
