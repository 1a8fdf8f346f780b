package slackbot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack/socketmode"
)

// TestSocketModeCommandAckedAndAnswered: a slash command envelope over a
// local websocket is acknowledged and answered through its response URL,
// with the same rules as HTTP; after the connection drops, the bot
// reconnects and keeps serving.
func TestSocketModeCommandAckedAndAnswered(t *testing.T) {
	f := newFrontFixture(t)
	runSocketMode(t, f)

	env, responseURL := f.fake.SlashCommand("/sanasend", "status", "U0ALICE", "C0OPS")
	id := f.fake.SendEnvelope(t, env)
	f.fake.WaitAck(t, id, 5*time.Second)
	post := f.fake.WaitResponseURLPosts(t, responseURL, 1, 5*time.Second)[0]
	if !strings.Contains(postText(post), "healthy") {
		t.Errorf("status over socket mode = %s", postText(post))
	}

	// A stranger over Socket Mode is refused like over HTTP.
	env, responseURL = f.fake.SlashCommand("/sanasend", "restart", "U0EVE", "C0OPS")
	f.fake.WaitAck(t, f.fake.SendEnvelope(t, env), 5*time.Second)
	if post := f.fake.WaitResponseURLPosts(t, responseURL, 1, 5*time.Second)[0]; post["response_type"] != "ephemeral" {
		t.Errorf("stranger's command answered %s; want an ephemeral refusal", postText(post))
	}

	// The connection drops: the bot reconnects and a button click works.
	f.fake.DropSocket()
	f.fake.SocketConnected(t, 15*time.Second)
	prompt := f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "restart"), 1, 5*time.Second)[0]
	env, responseURL = f.fake.BlockAction(ActionConfirm, tokenOf(t, prompt), "U0ALICE", "C0OPS")
	f.fake.WaitAck(t, f.fake.SendEnvelope(t, env), 5*time.Second)
	f.fake.WaitResponseURLPosts(t, responseURL, 1, 5*time.Second)
	f.front.Wait() // progress first, then the outcome
	final := f.fake.ResponseURLPosts(responseURL)
	if !strings.Contains(postText(final[len(final)-1]), "restart whatsapp") {
		t.Errorf("click over socket mode answered %s", postText(final[len(final)-1]))
	}
	f.front.Wait()
	if calls := f.svc.Calls(); strings.Join(calls, ",") != "status,restart by U0ALICE" {
		t.Errorf("calls = %v", calls)
	}
}

// runSocketMode runs the front end in Socket Mode on the fake Slack until
// the test ends, and waits for its connection.
func runSocketMode(t *testing.T, f *frontFixture) {
	t.Helper()
	client := socketmode.New(NewClient("xoxb-test", f.fake.APIURL(), WithAppToken("xapp-test")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.front.RunSocketMode(ctx, client) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSocketMode: %v", err)
		}
	})
	f.fake.SocketConnected(t, 10*time.Second)
}
