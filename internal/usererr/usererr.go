// Package usererr is the bot's one error type whose message is safe to show
// to a person in Slack or the console: a code and a sentence written for
// them. The cause it wraps (raw errors, paths, Slack's error strings) goes to
// the log only. Front ends show Message(err); logs show err.Error().
package usererr

import (
	"errors"
	"fmt"
)

// Code classifies an error for people and for the audit log.
type Code string

const (
	Invalid     Code = "invalid"     // the request is malformed or not allowed as given
	NotFound    Code = "not_found"   // no such service, token, file
	Conflict    Code = "conflict"    // busy, already running, already stopped
	Forbidden   Code = "forbidden"   // not staff, wrong channel, not the requester
	Unavailable Code = "unavailable" // a dependency is down or slow: Slack, the disk, the service
	Internal    Code = "internal"    // a bug or an unexpected failure
)

// Error is an error with a message that is safe to show. Message is a whole
// sentence for a person, without internals; Err is the cause, for the log.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// New returns an error with a safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a safe message and err as its cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Error is the message and the cause: for logs, never for people.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Fallback is what a person sees for an error that carries no safe message.
const Fallback = "something went wrong; the bot's log has the details"

// Message is the text of err that may be shown to a person: the message of
// the outermost *Error in its chain, or Fallback.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return Fallback
}

// CodeOf is the code of the outermost *Error in err's chain, Internal when
// there is none, "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
