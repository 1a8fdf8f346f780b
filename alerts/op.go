package alerts

import "github.com/sanasend/sanasend-bot/delivery"

// Op is what a Notice does: a new message, or a reply in the thread of
// the alert its Ref names. It is the outbox's operation (package delivery).
type Op = delivery.Op

// The operations of a Notice.
const (
	OpPost  = delivery.OpPost
	OpReply = delivery.OpReply
)
