package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

func outboundSender(t *testing.T, fake *fakeslack.Server) *Sender {
	t.Helper()
	api := NewClient(fakeslack.DefaultBotToken, fake.APIURL(), WithRetryPolicy(RetryPolicy{}))
	s, err := NewSender(api, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

func outboundCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEncodePayload: a Message's text, blocks and upload round-trip
// through the payload; no blocks encode as none.
func TestEncodePayload(t *testing.T) {
	m := Message{
		Text:   "whatsapp is down &amp; out",
		Blocks: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*whatsapp*", false, false), nil, nil)},
		Upload: &Upload{Filename: "logs.txt", Title: "logs", Content: "a\nb\n"},
	}
	raw, err := EncodePayload(m)
	if err != nil {
		t.Fatalf("EncodePayload: %v", err)
	}
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if p.Text != m.Text || p.File == nil || !reflect.DeepEqual(*p.File, *m.Upload) {
		t.Errorf("payload = %+v; want the text and upload of %+v", p, m)
	}
	blocks, err := decodeBlocks(p.Blocks)
	if err != nil || len(blocks) != 1 || blocks[0].BlockType() != slack.MBTSection {
		t.Errorf("blocks = %v, %v; want the one section", blocks, err)
	}

	raw, err = EncodePayload(Message{Text: "plain"})
	if err != nil {
		t.Fatalf("EncodePayload(plain): %v", err)
	}
	if got, want := string(raw), `{"text":"plain"}`; got != want {
		t.Errorf("EncodePayload(plain) = %s; want %s", got, want)
	}
}

func TestNewSenderValidates(t *testing.T) {
	if _, err := NewSender(nil, zerolog.Nop()); err == nil {
		t.Error("NewSender(nil) = nil error; want one")
	}
}

// TestSenderClassifies: each Slack answer becomes the outbox's verdict.
func TestSenderClassifies(t *testing.T) {
	post := delivery.Target{Op: delivery.OpPost, Channel: "C0OPS"}
	edit := delivery.Target{Op: delivery.OpUpdate, Channel: "C0OPS", TS: "1.000100"}
	for _, tt := range []struct {
		name      string
		to        delivery.Target
		answer    fakeslack.Answer
		permanent string // the code, when permanent
		refGone   bool
		after     time.Duration // RetryAfter, when retried
	}{
		{"429 waits its Retry-After", post, fakeslack.Answer{Status: 429, RetryAfter: 7}, "", false, 7 * time.Second},
		{"500 is retried", post, fakeslack.Answer{Status: 500}, "", false, 0},
		{"internal_error is retried", post, fakeslack.Answer{Error: "internal_error"}, "", false, 0},
		{"ratelimited is retried", post, fakeslack.Answer{Error: "ratelimited"}, "", false, 0},
		{"not_in_channel is permanent", post, fakeslack.Answer{Error: "not_in_channel"}, "not_in_channel", false, 0},
		{"channel_not_found is permanent", post, fakeslack.Answer{Error: "channel_not_found"}, "channel_not_found", false, 0},
		{"403 is permanent", post, fakeslack.Answer{Status: 403}, "http_403", false, 0},
		{"a gone message to update", edit, fakeslack.Answer{Error: "message_not_found"}, "message_not_found", true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeslack.New(t)
			s := outboundSender(t, fake)
			method := "chat.postMessage"
			if tt.to.Op == delivery.OpUpdate {
				method = "chat.update"
			}
			fake.FailNext(method, tt.answer)
			raw, _ := EncodePayload(Message{Text: "whatsapp is down"})
			_, _, err := s.Send(outboundCtx(t), delivery.Item{ID: "x", Channel: "C0OPS", Op: tt.to.Op, Payload: raw}, tt.to)
			var perm *delivery.PermanentError
			var retry *delivery.RetryError
			switch {
			case tt.permanent != "":
				if !errors.As(err, &perm) || perm.Code != tt.permanent {
					t.Fatalf("Send = %v; want Permanent(%s)", err, tt.permanent)
				}
				if perm.Gone != tt.refGone {
					t.Errorf("Send = %v, Gone %v; want Gone %v", err, perm.Gone, tt.refGone)
				}
			default:
				if !errors.As(err, &retry) || retry.After != tt.after {
					t.Fatalf("Send = %v; want a retry after %v", err, tt.after)
				}
			}
		})
	}
}

// TestSenderThreadsAndFiles: a reply goes to its thread, an update edits
// its ts, a file is uploaded into its thread; invalid blocks fall back to
// the text alone within one Send.
func TestSenderThreadsAndFiles(t *testing.T) {
	fake := fakeslack.New(t)
	s := outboundSender(t, fake)
	ctx := outboundCtx(t)
	raw, err := EncodePayload(Message{Text: "restarting", Upload: &Upload{Filename: "logs.txt", Title: "logs", Content: "line\n"}})
	if err != nil {
		t.Fatal(err)
	}
	it := delivery.Item{ID: "r", Channel: "C0OPS", Payload: raw}

	_, ts, err := s.Send(ctx, it, delivery.Target{Op: delivery.OpPost, Channel: "C0OPS"})
	if err != nil || ts == "" {
		t.Fatalf("post: %q, %v", ts, err)
	}
	if _, _, err := s.Send(ctx, it, delivery.Target{Op: delivery.OpReply, Channel: "C0OPS", Thread: ts}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if _, got, err := s.Send(ctx, it, delivery.Target{Op: delivery.OpUpdate, Channel: "C0OPS", TS: ts}); err != nil || got != ts {
		t.Fatalf("update = %q, %v; want %q", got, err, ts)
	}
	if _, id, err := s.Send(ctx, it, delivery.Target{Op: delivery.OpFile, Channel: "C0OPS", Thread: ts}); err != nil || id == "" {
		t.Fatalf("file = %q, %v; want a file ID", id, err)
	}
	posts, updates := fake.Calls("chat.postMessage"), fake.Calls("chat.update")
	if len(posts) != 2 || posts[0].Param("thread_ts") != "" || posts[1].Param("thread_ts") != ts {
		t.Errorf("posts' thread_ts = %v; want none, then %s", posts, ts)
	}
	if len(updates) != 1 || updates[0].Param("ts") != ts {
		t.Errorf("updates = %v; want one of ts %s", updates, ts)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || ups[0].ThreadTS != ts || ups[0].Channel != "C0OPS" || string(ups[0].Content) != "line\n" || ups[0].Filename != "logs.txt" {
		t.Errorf("uploads = %+v; want logs.txt in C0OPS's thread %s", ups, ts)
	}
	if _, _, err := s.Send(ctx, delivery.Item{ID: "f", Channel: "C0OPS", Payload: json.RawMessage(`{"text":"x"}`)},
		delivery.Target{Op: delivery.OpFile, Channel: "C0OPS"}); err == nil {
		t.Error("a file item without a file: nil error; want a permanent one")
	}

	bad := delivery.Item{ID: "b", Channel: "C0OPS", Payload: json.RawMessage(`{"text":"whatsapp is down","blocks":[{"text":"a block without a type"}]}`)}
	if _, _, err := s.Send(ctx, bad, delivery.Target{Op: delivery.OpPost, Channel: "C0OPS"}); err != nil {
		t.Fatalf("invalid blocks: %v; want the text delivered", err)
	}
	posts = fake.Calls("chat.postMessage")[2:]
	if len(posts) != 2 || posts[0].Error != "invalid_blocks" || posts[1].Error != "" || posts[1].Param("blocks") != "" {
		t.Errorf("calls after invalid blocks = %v; want invalid_blocks, then the text alone", posts)
	}
}
