package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/delivery"
)

// Payload is a Slack message as the outbox (package delivery) carries it:
// the Item.Payload that EncodePayload makes and Sender sends.
type Payload struct {
	// Text is the top-level text, sent as is (escaped by whoever built it).
	Text string `json:"text"`
	// Blocks is a Block Kit JSON array, or empty.
	Blocks json.RawMessage `json:"blocks,omitempty"`
	// File is what an OpFile item uploads; the other operations ignore it,
	// so a message with a file is two items: the message, and an OpFile
	// whose Ref is the message's item.
	File *Upload `json:"file,omitempty"`
}

// EncodePayload encodes m for delivery.Item.Payload. m.Ephemeral has no
// meaning in a channel and is ignored. The message passes the fit guard
// first, so nothing reaches the outbox over Slack's limits or unescaped.
func EncodePayload(m Message) (json.RawMessage, error) {
	m = m.fit()
	p := Payload{Text: m.Text, File: m.Upload}
	if len(m.Blocks) > 0 {
		blocks, err := json.Marshal(slack.Blocks{BlockSet: m.Blocks})
		if err != nil {
			return nil, fmt.Errorf("encode payload: blocks: %w", err)
		}
		p.Blocks = blocks
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return data, nil
}

// OutboundAPI is the part of the Web API the Sender uses; *slack.Client is
// one. It must not retry by itself: the outbox owns the retry policy.
type OutboundAPI interface {
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
}

var _ OutboundAPI = (*slack.Client)(nil)

// Sender is the outbox's Slack side (a delivery.Sender): one Web API call
// per attempt (chat.postMessage, a thread reply, chat.update, or a files
// upload v2), with Slack's errors classified for the outbox's retry
// policy. Blocks Slack refuses (invalid_blocks) are sent again at once as
// the text alone.
type Sender struct {
	api OutboundAPI
	log zerolog.Logger
}

var _ delivery.Sender = (*Sender)(nil)

// NewSender returns the Sender over api, which must not retry by itself
// (NewClient with WithRetryPolicy(RetryPolicy{})); log gets the blocks it
// could not send.
func NewSender(api OutboundAPI, log zerolog.Logger) (*Sender, error) {
	if api == nil {
		return nil, errors.New("new sender: no Slack client")
	}
	return &Sender{api: api, log: log}, nil
}

// Send makes one delivery attempt of it to to. For OpFile the ts it
// returns is the file's ID.
func (s *Sender) Send(ctx context.Context, it delivery.Item, to delivery.Target) (channel, ts string, err error) {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return "", "", delivery.Permanent("bad_payload", fmt.Errorf("send %s: decode payload: %w", it.ID, err))
	}
	if to.Op == delivery.OpFile {
		return s.upload(ctx, it, to, p)
	}
	blocks, berr := decodeBlocks(p.Blocks)
	if berr != nil {
		s.log.Error().Err(berr).Str("item", it.ID).Str("channel", it.Channel).Msg("slack: blocks do not decode; sending the text alone")
	}
	channel, ts, err = s.post(ctx, to, p.Text, blocks)
	if err != nil && blocks != nil && (slackCode(err) == "invalid_blocks" || slackCode(err) == "invalid_blocks_format") {
		s.log.Warn().Str("item", it.ID).Str("channel", it.Channel).Str("code", slackCode(err)).
			Msg("slack: Slack refused the blocks; sending the text alone")
		channel, ts, err = s.post(ctx, to, p.Text, nil)
	}
	if err != nil {
		return "", "", classify(fmt.Errorf("send %s: %w", it.ID, err), to.Op == delivery.OpUpdate)
	}
	return channel, ts, nil
}

func (s *Sender) post(ctx context.Context, to delivery.Target, text string, blocks []slack.Block) (channel, ts string, err error) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	switch {
	case blocks != nil:
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	case to.Op == delivery.OpUpdate:
		// chat.update keeps the old blocks unless told otherwise, and they
		// would hide the new text.
		opts = append(opts, slack.MsgOptionBlocks())
	}
	switch to.Op {
	case delivery.OpUpdate:
		channel, ts, _, err = s.api.UpdateMessageContext(ctx, to.Channel, to.TS, opts...)
	case delivery.OpReply:
		channel, ts, err = s.api.PostMessageContext(ctx, to.Channel, append(opts, slack.MsgOptionTS(to.Thread))...)
	default:
		channel, ts, err = s.api.PostMessageContext(ctx, to.Channel, opts...)
	}
	return channel, ts, err
}

func (s *Sender) upload(ctx context.Context, it delivery.Item, to delivery.Target, p Payload) (channel, fileID string, err error) {
	if p.File == nil {
		return "", "", delivery.Permanent("bad_payload", fmt.Errorf("send %s: a file item without a file", it.ID))
	}
	f, err := s.api.UploadFileContext(ctx, p.File.file(slack.UploadFileParameters{
		Channel: to.Channel, ThreadTimestamp: to.Thread, InitialComment: p.Text,
	}))
	if err != nil {
		return "", "", classify(fmt.Errorf("send %s: upload: %w", it.ID, err), false)
	}
	return to.Channel, f.ID, nil
}

// decodeBlocks decodes a payload's blocks for slack.MsgOptionBlocks; nil
// when there are none.
func decodeBlocks(raw json.RawMessage) ([]slack.Block, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var blocks slack.Blocks
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, err
	}
	if len(blocks.BlockSet) == 0 {
		return nil, nil
	}
	return blocks.BlockSet, nil
}

// transientCodes are the ok:false answers that are worth retrying.
var transientCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"team_added_to_org":   true,
}

// slackCode is Slack's error code in err, or "".
func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// classify wraps err for the outbox: a 429 waits its Retry-After, a known
// transient answer, a 5xx and anything unknown (network, timeout) are
// retried, and any other ok:false answer or 4xx is permanent, with Slack's
// code (or "http_<status>"). The code leads the message, for the logs.
// update says that the call was a chat.update: then a message that cannot
// be edited any more is delivery.RefGone.
func classify(err error, update bool) error {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		return delivery.RetryAfter(rl.RetryAfter, fmt.Errorf("ratelimited: %w", err))
	case errors.As(err, &se):
		code := se.Err
		wrapped := fmt.Errorf("%s: %w", code, err)
		switch {
		case transientCodes[code]:
			return delivery.Retry(wrapped)
		case update && messageGone(code):
			return delivery.RefGone(code, wrapped)
		}
		return delivery.Permanent(code, wrapped)
	case errors.As(err, &sc):
		code := "http_" + strconv.Itoa(sc.Code)
		wrapped := fmt.Errorf("%s: %w", code, err)
		if sc.Code >= 400 && sc.Code < 500 && sc.Code != http.StatusTooManyRequests && sc.Code != http.StatusRequestTimeout {
			return delivery.Permanent(code, wrapped)
		}
		return delivery.Retry(wrapped)
	default:
		return delivery.Retry(err)
	}
}

// messageGone reports whether code says the message to update cannot be
// edited any more.
func messageGone(code string) bool {
	switch code {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}
