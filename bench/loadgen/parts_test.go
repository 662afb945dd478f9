package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
)

func TestOfferPassesGatewayCheck(t *testing.T) {
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	for _, cand := range []string{"127.0.0.1:40000", "[::1]:40000"} {
		offer := buildOffer(offerParams{
			sessionID: 42, ufrag: "abcdefgh", pwd: "0123456789abcdefghijklmn",
			fingerprint: cert.Fingerprint(), candidate: netip.MustParseAddrPort(cand),
		})
		info, err := rtc.CheckOffer([]byte(offer), rtc.RoleViewer)
		if err != nil {
			t.Fatalf("gateway refuses the offer: %v\n%s", err, offer)
		}
		if !info.Video || !info.Audio || info.ICEUfrag != "abcdefgh" {
			t.Errorf("gateway reads the offer as %+v", info)
		}
		host, port, _ := net.SplitHostPort(cand)
		for _, want := range []string{
			"a=group:BUNDLE 0 1", "a=setup:actpass", "a=end-of-candidates", "a=rtcp-fb:102 nack pli",
			"a=fmtp:102 " + h264Fmtp, "a=rtpmap:111 opus/48000/2", "a=fingerprint:sha-256 " + cert.Fingerprint(),
			"a=candidate:1 1 udp 2130706431 " + host + " " + port + " typ host",
		} {
			if !strings.Contains(offer, want+"\r\n") {
				t.Errorf("offer lacks %q", want)
			}
		}
	}
}

// answerSDP is shaped like the gateway's (pion's) answer to our offer.
const answerSDP = "v=0\r\no=- 123 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 AA:BB:CC\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=setup:passive\r\na=mid:0\r\n" +
	"a=ice-ufrag:srvU\r\na=ice-pwd:serverpassword0123456789\r\na=rtcp-mux\r\na=rtpmap:102 H264/90000\r\n" +
	"a=ssrc:1111 cname:frontrow\r\na=ssrc:1111 msid:frontrow video\r\na=sendonly\r\n" +
	"a=candidate:1 1 udp 2130706431 10.0.0.5 5000 typ host\r\n" +
	"a=candidate:2 1 udp 2130706431 127.0.0.1 5000 typ host\r\n" +
	"a=candidate:3 1 udp 2130706431 ::1 5000 typ host\r\n" +
	"a=candidate:4 1 tcp 1671430143 127.0.0.1 5001 typ host tcptype passive\r\n" +
	"a=candidate:5 1 udp 1694498815 192.0.2.1 6000 typ srflx raddr 0.0.0.0 rport 5000\r\n" +
	"a=end-of-candidates\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=setup:passive\r\na=mid:1\r\n" +
	"a=ice-ufrag:srvU\r\na=ice-pwd:serverpassword0123456789\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n" +
	"a=ssrc:2222 cname:frontrow\r\na=sendonly\r\n"

func TestParseAnswer(t *testing.T) {
	a, err := parseAnswer([]byte(answerSDP))
	if err != nil {
		t.Fatal(err)
	}
	if a.ufrag != "srvU" || a.pwd != "serverpassword0123456789" || a.fingerprint != "AA:BB:CC" {
		t.Errorf("credentials %q %q %q", a.ufrag, a.pwd, a.fingerprint)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.5:5000"), netip.MustParseAddrPort("127.0.0.1:5000"), netip.MustParseAddrPort("[::1]:5000"),
	}
	if !slices.Equal(a.candidates, want) {
		t.Errorf("candidates %v, want %v", a.candidates, want)
	}
	m := a.media
	if !slices.Equal(m.videoSSRC, []uint32{1111}) || !slices.Equal(m.audioSSRC, []uint32{2222}) ||
		!slices.Equal(m.videoPT, []uint8{102}) || !slices.Equal(m.audioPT, []uint8{111}) {
		t.Errorf("media %+v", m)
	}
	for _, c := range []struct {
		ssrc uint32
		pt   uint8
		want kind
	}{{1111, 111, kindVideo}, {2222, 102, kindAudio}, {3333, 102, kindVideo}, {3333, 111, kindAudio}, {3333, 0, kindUnknown}} {
		if got := m.kindOf(c.ssrc, c.pt); got != c.want {
			t.Errorf("kindOf(%d, %d) = %d, want %d", c.ssrc, c.pt, got, c.want)
		}
	}
	for local, want := range map[string]string{"127.0.0.1": "127.0.0.1:5000", "10.0.0.7": "10.0.0.5:5000", "::1": "[::1]:5000"} {
		got, err := pickCandidate(a.candidates, netip.MustParseAddr(local))
		if err != nil || got.String() != want {
			t.Errorf("pickCandidate for %s = %v, %v; want %s", local, got, err, want)
		}
	}
	if _, err := pickCandidate(a.candidates[:2], netip.MustParseAddr("::1")); err == nil {
		t.Error("pickCandidate found an IPv6 candidate among IPv4 ones")
	}
	if _, err := parseAnswer([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")); err == nil ||
		!strings.Contains(err.Error(), "ice-ufrag") || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("empty answer: %v", err)
	}
}

func TestIDRStart(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"single IDR", []byte{0x65, 0x88}, true},
		{"single non-IDR slice", []byte{0x41, 0x9a}, false},
		{"single SPS", []byte{0x67, 0x42}, false},
		{"STAP-A SPS PPS IDR", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88}, true},
		{"STAP-A SPS PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, false},
		{"STAP-A truncated", []byte{0x78, 0, 9, 0x65}, false},
		{"FU-A IDR start", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A IDR middle", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A non-IDR start", []byte{0x7c, 0x81, 0x9a}, false},
		{"FU-A header only", []byte{0x7c}, false},
		{"empty", nil, false},
	} {
		if got := idrStart(c.payload); got != c.want {
			t.Errorf("%s: idrStart = %v, want %v", c.name, got, c.want)
		}
	}
}

// srtpPair is a matching encrypt (gateway) and decrypt (viewer) context.
func srtpPair(t *testing.T) (enc, dec *srtp.Context) {
	t.Helper()
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	enc, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	dec, err = srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	return enc, dec
}

func TestFirstFrameStep(t *testing.T) {
	enc, dec := srtpPair(t)
	f := newFirstFrame()
	f.ctx = dec
	seq := uint16(65530) // the frame wraps the sequence number
	send := func(ts uint32, marker bool, payload ...byte) bool {
		t.Helper()
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq, Timestamp: ts, SSRC: 1, Marker: marker}, Payload: payload}
		seq++
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ct, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		done, err := f.step(ct)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	// A P frame, then a keyframe whose middle is lost: neither counts.
	if send(1000, true, 0x41, 0x9a) {
		t.Fatal("a P frame counted as a keyframe")
	}
	send(2000, false, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce)
	send(2000, false, 0x7c, 0x85, 0x88)
	seq++ // lost
	if send(2000, true, 0x7c, 0x45, 0x88) {
		t.Fatal("a keyframe with a packet missing counted as complete")
	}
	// A whole keyframe: SPS/PPS, then the IDR in three fragments.
	send(3000, false, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce)
	if send(3000, false, 0x7c, 0x85, 0x88) || send(3000, false, 0x7c, 0x05, 0x88) {
		t.Fatal("keyframe complete before its marker")
	}
	if !send(3000, true, 0x7c, 0x45, 0x88) {
		t.Fatal("complete keyframe not detected")
	}
	// Tampered packets fail authentication.
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, SSRC: 1}, Payload: []byte{0x65, 1, 2, 3}}
	raw, _ := pkt.Marshal()
	ct, err := enc.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := f.step(ct); err == nil {
		t.Error("tampered packet decrypted")
	}
}

func TestTrackLoss(t *testing.T) {
	for _, c := range []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"in order", []uint16{10, 11, 12, 13}, 0},
		{"gap", []uint16{10, 11, 14, 15}, 2},
		{"reordered", []uint16{10, 12, 11, 13}, 0},
		{"late first", []uint16{10, 11, 9, 12}, 0},
		{"duplicate", []uint16{10, 11, 11, 12}, 0},
		{"wrap", []uint16{65534, 65535, 0, 2}, 1},
		{"restart", []uint16{100, 101, 103, 40000, 40001}, 1},
	} {
		var ts tracks
		for _, s := range c.seqs {
			tr := ts.find(1)
			if tr == nil {
				tr = ts.add(1, s, kindVideo)
			}
			tr.update(s)
		}
		if got := ts.lost(); got != c.lost {
			t.Errorf("%s: lost %d, want %d", c.name, got, c.lost)
		}
	}
}

// fakeExporter returns 0, 1, 2, ... as keying material.
type fakeExporter struct{}

func (fakeExporter) ExportKeyingMaterial(label string, _ []byte, n int) ([]byte, error) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) + byte(len(label))
	}
	return b, nil
}

// TestServerWriteKeys: the keys we decrypt with are the ones pion's SRTP
// session on the client side takes as the remote's.
func TestServerWriteKeys(t *testing.T) {
	for _, p := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		key, salt, err := serverWriteKeys(fakeExporter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		cfg := srtp.Config{Profile: p}
		if err := cfg.ExtractSessionKeysFromDTLS(fakeExporter{}, true); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, cfg.Keys.RemoteMasterKey) || !bytes.Equal(salt, cfg.Keys.RemoteMasterSalt) {
			t.Errorf("profile %v: key %x salt %x, pion takes %x %x", p, key, salt, cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt)
		}
	}
}

// check builds a Binding request as pion's controlled agent sends it.
func check(t testing.TB, username, pwd string) *stun.Message {
	t.Helper()
	var prio [4]byte
	binary.BigEndian.PutUint32(prio[:], 1)
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(username),
		rawAttr{stun.AttrICEControlled, make([]byte, 8)}, rawAttr{stun.AttrPriority, prio[:]},
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	var in stun.Message
	in.Raw = append(make([]byte, 0, stunBufSize), m.Raw...)
	if err := in.Decode(); err != nil {
		t.Fatal(err)
	}
	return &in
}

func TestSTUNResponder(t *testing.T) {
	r := newSTUNResponder("mine", "my-password-0123456789ab")
	from := netip.MustParseAddrPort("127.0.0.1:5555")
	req := check(t, "mine:theirs", "my-password-0123456789ab")
	raw, err := r.answer(req, from)
	if err != nil {
		t.Fatal(err)
	}
	var resp stun.Message
	resp.Raw = append([]byte(nil), raw...)
	if err := resp.Decode(); err != nil {
		t.Fatal(err)
	}
	if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
		t.Errorf("response %v, transaction %x want %x", resp.Type, resp.TransactionID, req.TransactionID)
	}
	if err := stun.NewShortTermIntegrity("my-password-0123456789ab").Check(&resp); err != nil {
		t.Errorf("integrity: %v", err)
	}
	if err := stun.Fingerprint.Check(&resp); err != nil {
		t.Errorf("fingerprint: %v", err)
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(&resp); err != nil || xor.String() != "127.0.0.1:5555" {
		t.Errorf("XOR-MAPPED-ADDRESS %v, %v", xor, err)
	}
	if _, err := r.answer(check(t, "mine:theirs", "wrong-password-0123456789"), from); err == nil {
		t.Error("answered a check with the wrong password")
	}
	if _, err := r.answer(check(t, "other:theirs", "my-password-0123456789ab"), from); err == nil {
		t.Error("answered a check for another ufrag")
	}
}

// TestAllocsSTUNResponder: answering a consent check allocates nothing.
func TestAllocsSTUNResponder(t *testing.T) {
	skipAllocsUnderRace(t)
	r := newSTUNResponder("mine", "my-password-0123456789ab")
	from := netip.MustParseAddrPort("127.0.0.1:5555")
	req := check(t, "mine:theirs", "my-password-0123456789ab")
	answered := 0
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.answer(req, from); err != nil {
			t.Fatal(err)
		}
		answered++
	}); allocs != 0 {
		t.Errorf("answering a check: %.1f allocations", allocs)
	}
	if answered != 101 { // AllocsPerRun's warm-up run, then 100
		t.Errorf("%d checks answered, want 101", answered)
	}
}

// TestAllocsSteadyState: once the first frame is in, receiving and
// counting a packet allocates nothing, socket read included, and neither
// does answering a consent check; read packet by packet or in batches, by
// the viewer or its Drainer, with UDP_GRO (where the kernel has it) or not.
func TestAllocsSteadyState(t *testing.T) {
	skipAllocsUnderRace(t)
	for _, c := range []struct {
		interval     time.Duration
		drainer, gro bool
	}{
		{-1, false, true}, {time.Millisecond, false, true}, {time.Millisecond, false, false}, {time.Millisecond, true, true},
	} {
		name := fmt.Sprintf("interval %v drainer %v gro %v", c.interval, c.drainer, c.gro)
		t.Run(name, func(t *testing.T) { testSteadyState(t, c.interval, c.drainer, c.gro) })
	}
}

func testSteadyState(t *testing.T, interval time.Duration, drainer, gro bool) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	const pwd = "my-password-0123456789ab"
	v := &Viewer{
		conn: conn, interval: interval, firstFrameCh: make(chan struct{}), stop: make(chan struct{}),
		checked: make(chan struct{}, 1), responder: newSTUNResponder("mine", pwd),
	}
	if gro {
		v.gro = enableGRO(conn)
	}
	if drainer {
		v.drainer = NewDrainer(interval)
	}
	v.stunIn.Raw = make([]byte, 0, stunBufSize)
	v.media.Store(&mediaMap{videoSSRC: []uint32{1}, audioSSRC: []uint32{2}})
	v.wg.Add(1)
	go v.read()
	defer func() {
		if err := v.Close(); err != nil {
			t.Error(err)
		}
	}()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	// The consent responses are read back: bounded, for a test that lost
	// one (set once: no deadline call in the counted loop).
	if err := tx.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 1100)
	pkt[0] = 0x80
	var seqs [3]uint16 // by SSRC
	n, ssrc := 0, uint32(1)
	req := check(t, "mine:theirs", pwd).Raw
	// wait waits for counter c to reach want. A loopback datagram is there
	// at once: waitBound only stops a test that lost one.
	const waitBound = 10 * time.Second
	wait := func(what string, c *atomic.Uint64, want uint64) {
		deadline := time.Now().Add(waitBound)
		for c.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d after %v, want %d", what, c.Load(), waitBound, want)
			}
			time.Sleep(10 * time.Microsecond) // parks, so the scheduler polls the network
		}
	}
	resp := make([]byte, 1500)
	send := func() {
		n++
		if n%8 == 0 { // a consent check now and then, as the gateway sends them
			want := v.answered.Load() + 1
			if _, err := tx.WriteToUDPAddrPort(req, to); err != nil {
				t.Fatal(err)
			}
			wait("consent checks answered", &v.answered, want)
			if _, _, err := tx.ReadFromUDPAddrPort(resp); err != nil {
				t.Fatalf("the consent check's response: %v", err)
			}
		}
		pkt[1] = 102
		binary.BigEndian.PutUint16(pkt[2:], seqs[ssrc])
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		seqs[ssrc]++
		ssrc = 3 - ssrc // video, audio, video, ...
		want := v.c.packets.Load() + 1
		if _, err := tx.WriteToUDPAddrPort(pkt, to); err != nil {
			t.Fatal(err)
		}
		wait("packets counted", &v.c.packets, want)
	}
	send()
	send()
	if allocs := testing.AllocsPerRun(300, send); allocs != 0 {
		t.Errorf("%.2f allocations per packet", allocs)
	}
	if v.answered.Load() == 0 {
		t.Error("no check answered")
	}
	if st := v.Stats(); st.Video == 0 || st.Audio == 0 || st.Video+st.Audio != st.Packets || st.Lost != 0 ||
		st.Bytes != st.Packets*uint64(len(pkt)) {
		t.Errorf("stats %+v", st)
	}
}
