//go:build !linux

package rtc

// batchHeld is 0: sendEach keeps nothing between batches.
func batchHeld(batchSender) int { return 0 }
