package delivery

import "context"

// Serve is the outbox's whole run for the program that owns it: it
// delivers until ctx is done (see Run), then closes the journal (see
// Close); what is still pending stays in the journal for the next process.
// Enqueue fails after Serve has returned.
func (o *Outbox) Serve(ctx context.Context) error {
	o.Run(ctx)
	return o.Close()
}
