package slackbot

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSlashCommandTextUnescaped: Slack sends the text of a slash command
// HTML-escaped, as it sends all message text ("a&b" arrives as
// "a&amp;b"); the bot searches for what the user typed.
func TestSlashCommandTextUnescaped(t *testing.T) {
	tests := []struct{ sent, want string }{
		{"logs 20 a&amp;b", `logs 20 "a&b" all=false`},
		{"logs 20 &lt;error&gt;", `logs 20 "<error>" all=false`},
		{"logs 20 &amp;lt;", `logs 20 "&lt;" all=false`}, // the user typed "&lt;"
		{"logs 20 plain", `logs 20 "plain" all=false`},
	}
	for _, tc := range tests {
		t.Run(tc.sent, func(t *testing.T) {
			f := newFrontFixture(t)
			f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", tc.sent), 1, 5*time.Second)
			f.front.Wait()
			if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != tc.want {
				t.Errorf("text %q ran %q; want %q", tc.sent, calls, tc.want)
			}
		})
	}
}

// TestResponderFitsEveryMessage: a message built by the front end itself,
// around outside text, goes out escaped: the responder fits every message.
func TestResponderFitsEveryMessage(t *testing.T) {
	f := newFrontFixture(t)
	responseURL := f.fake.NewResponseURL()
	body := url.Values{"command": {"/other<!channel>&"}, "text": {"status"}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
		"channel_id": {"C0OPS"}, "response_url": {responseURL}}.Encode()
	if code := f.post(t, "/slack/commands", body, nil); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	post := f.fake.WaitResponseURLPosts(t, responseURL, 1, 5*time.Second)[0]
	text, _ := post["text"].(string)
	if !strings.Contains(text, "/other&lt;!channel&gt;&amp;") || strings.Contains(text, "<!channel>") {
		t.Errorf("answer to a foreign command = %q; want the command escaped", text)
	}
}

// TestSocketModeCommandTextUnescaped: the same over Socket Mode.
func TestSocketModeCommandTextUnescaped(t *testing.T) {
	f := newFrontFixture(t)
	runSocketMode(t, f)
	env, responseURL := f.fake.SlashCommand("/sanasend", "logs 20 a&amp;b", "U0ALICE", "C0OPS")
	f.fake.WaitAck(t, f.fake.SendEnvelope(t, env), 5*time.Second)
	f.fake.WaitResponseURLPosts(t, responseURL, 1, 5*time.Second)
	f.front.Wait()
	if calls, want := f.svc.Calls(), `logs 20 "a&b" all=false`; len(calls) != 1 || calls[0] != want {
		t.Errorf("calls = %q; want %q", calls, want)
	}
}
