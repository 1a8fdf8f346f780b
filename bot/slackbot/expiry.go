package slackbot

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/bot"
)

// ExpiryInterval is how often RunExpiry looks for expired confirmations: a
// prompt nobody answered keeps its buttons at most this long after its
// token expired.
const ExpiryInterval = 5 * time.Second

// ExpiredLister is what RunExpiry needs of the confirmation store
// (*bot.ConfirmStore): the confirmations that expired unanswered, each
// returned once.
type ExpiredLister interface {
	Expired() []bot.Pending
}

var _ ExpiredLister = (*bot.ConfirmStore)(nil)

// RunExpiry closes, every ExpiryInterval of clock, the prompts of the
// confirmations in confirms that expired unanswered, so no live-looking
// button stays behind. It returns when ctx is done.
func (f *Front) RunExpiry(ctx context.Context, confirms ExpiredLister, clock clockwork.Clock) {
	t := clock.NewTicker(ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			if expired := confirms.Expired(); len(expired) > 0 {
				f.ExpirePrompts(ctx, expired)
			}
		}
	}
}
