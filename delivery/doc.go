// Package delivery is the durable outbox: the one way anything reaches a
// chat channel that must not lose a message (the alerts channel). It keeps
// a journal in the state dir, delivers each channel's items strictly in
// order, retries with backoff (and a rate limit's Retry-After), and records
// what the chat refused for good as dead letters.
//
// It knows nothing about what a message says: an Item's Payload is opaque,
// encoded by the front end (bot/slackbot.EncodePayload) and handed back to
// the front end's Sender, which classifies its failures with RetryAfter,
// Retry, Permanent and RefGone. It imports no chat package.
package delivery
