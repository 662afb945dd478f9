//go:build !linux

package rtc

import (
	"log/slog"
	"net"
)

// newBatchSender: without sendmmsg and UDP GSO, one datagram per call.
func newBatchSender(sock net.PacketConn, log *slog.Logger) batchSender {
	return &sendEach{sock: sock, log: log}
}
