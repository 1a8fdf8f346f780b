package slackbot

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/slack-go/slack"
)

// MaxBodyBytes caps what is read of a Slack request: slash commands and
// interaction payloads are a few KiB.
const MaxBodyBytes = 64 << 10

// Verification errors. Their text is for the bot's log only: Slack and
// anyone else get a bare 401 (or 413).
var (
	ErrBodyTooLarge = errors.New("request body over 64 KiB")
	ErrUnsigned     = errors.New("request not signed by Slack")
)

// verifyRequest reads the body of r, at most MaxBodyBytes, and checks
// Slack's v0 signature (HMAC-SHA256 over "v0:<timestamp>:<body>" with the
// signing secret, compared in constant time) and that the timestamp is
// within 5 minutes. It returns the body only when all holds.
func verifyRequest(r *http.Request, signingSecret string) ([]byte, error) {
	sv, err := slack.NewSecretsVerifier(r.Header, signingSecret)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsigned, err)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if _, err := sv.Write(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsigned, err)
	}
	if err := sv.Ensure(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsigned, err)
	}
	return body, nil
}
