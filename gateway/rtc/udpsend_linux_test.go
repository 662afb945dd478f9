package rtc

// batchHeld counts the iovecs that still point at a buffer.
func batchHeld(out batchSender) int {
	m, ok := out.(*mmsgSender)
	if !ok {
		return 0
	}
	n := 0
	for _, v := range m.iovecs[:cap(m.iovecs)] {
		if v.Base != nil {
			n++
		}
	}
	return n
}
