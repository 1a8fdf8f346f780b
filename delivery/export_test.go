package delivery

// PendingChanged is the number of pending items and a channel closed at
// the next change of it, for tests that wait for a number.
func PendingChanged(o *Outbox) (int, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending), o.changed
}

// SetCompactAt lowers the journal size past which it is rewritten.
func SetCompactAt(o *Outbox, n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.compactAt = n
}
