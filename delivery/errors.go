package delivery

import (
	"fmt"
	"time"
)

// RetryError is a Sender's failure worth another attempt: after After, or
// after the outbox's backoff when After is zero.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retry after %v: %v", e.After, e.Err)
	}
	return fmt.Sprintf("retry: %v", e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter says that the attempt failed and the next one must wait d
// (a rate limit's Retry-After); d <= 0 means the outbox's backoff.
func RetryAfter(d time.Duration, err error) error {
	return &RetryError{After: max(d, 0), Err: err}
}

// Retry says that the attempt failed and is worth retrying after the
// outbox's backoff. An error the Sender does not wrap is treated the same.
func Retry(err error) error { return &RetryError{Err: err} }

// PermanentError is a Sender's failure that no retry will cure: the item
// becomes a dead letter with Code.
type PermanentError struct {
	// Code names the refusal in the logs, Dead and metrics: for Slack, its
	// error code ("channel_not_found").
	Code string
	Err  error
	// Gone says that the message to update is gone (RefGone).
	Gone bool
}

func (e *PermanentError) Error() string { return fmt.Sprintf("give up (%s): %v", e.Code, e.Err) }

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent says that the chat refused the item for good, with code: the
// outbox logs it at error level and records it as dead (see Outbox.Dead).
func Permanent(code string, err error) error { return &PermanentError{Code: code, Err: err} }

// RefGone says that the message an OpUpdate was to edit cannot be edited
// any more (deleted, too old): the outbox posts the item as a new message
// instead. For any other Op it is Permanent(code, err).
func RefGone(code string, err error) error {
	return &PermanentError{Code: code, Err: err, Gone: true}
}
