package fakeslack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

const wait = 5 * time.Second

// client is the real slack-go client, pointed at s.
func client(s *fakeslack.Server, opts ...slack.Option) *slack.Client {
	return slack.New(fakeslack.DefaultBotToken, append([]slack.Option{slack.OptionAPIURL(s.APIURL())}, opts...)...)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return c
}

// slackError is the Slack error code in err, "" if none.
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

func TestPostMessageRecordsBlocks(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*whatsapp* is healthy", false, false), nil, nil)

	channel, ts, err := api.PostMessageContext(ctx(t), "C0OPS",
		slack.MsgOptionText("whatsapp is healthy", false), slack.MsgOptionBlocks(section), slack.MsgOptionTS("1732769999.000001"))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if channel != "C0OPS" || ts == "" {
		t.Errorf("PostMessage = %q, %q; want C0OPS and a ts", channel, ts)
	}
	_, ts2, err := api.PostMessageContext(ctx(t), "C0OPS", slack.MsgOptionText("again", false))
	if err != nil {
		t.Fatalf("second PostMessage: %v", err)
	}
	if ts2 <= ts {
		t.Errorf("second ts %q is not after the first %q", ts2, ts)
	}

	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("recorded %d chat.postMessage calls; want 2", len(calls))
	}
	c := calls[0]
	for name, want := range map[string]string{"channel": "C0OPS", "text": "whatsapp is healthy", "thread_ts": "1732769999.000001"} {
		if got := c.Param(name); got != want {
			t.Errorf("Param(%q) = %q; want %q", name, got, want)
		}
	}
	if c.Token != fakeslack.DefaultBotToken || c.Status != http.StatusOK || c.Error != "" {
		t.Errorf("call token, status, error = %q, %d, %q; want %q, 200, \"\"", c.Token, c.Status, c.Error, fakeslack.DefaultBotToken)
	}
	blocks := c.Blocks()
	if len(blocks) != 1 || blocks[0]["type"] != "section" {
		t.Fatalf("Blocks() = %v; want one section", blocks)
	}
	text, _ := blocks[0]["text"].(map[string]any)
	if text["text"] != "*whatsapp* is healthy" {
		t.Errorf("section text = %v; want *whatsapp* is healthy", text["text"])
	}
	if calls[1].Blocks() != nil {
		t.Errorf("Blocks() of a text-only message = %v; want nil", calls[1].Blocks())
	}
}

func TestPostMessageErrors(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	tests := []struct {
		name    string
		channel string
		opts    []slack.MsgOption
		want    string
	}{
		{"no text", "C0OPS", nil, "no_text"},
		{"no channel", "", []slack.MsgOption{slack.MsgOptionText("hi", false)}, "channel_not_found"},
		{"bad blocks", "C0OPS", []slack.MsgOption{slack.MsgOptionText("hi", false),
			slack.UnsafeMsgOptionEndpoint(s.APIURL()+"chat.postMessage", func(v url.Values) { v.Set("blocks", `[{"text":"no type"}]`) })}, "invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(ctx(t), tt.channel, tt.opts...)
			if got := slackError(err); got != tt.want {
				t.Errorf("PostMessage error = %v; want %s", err, tt.want)
			}
		})
	}
}

func TestUpdateMessage(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	_, ts, err := api.PostMessageContext(ctx(t), "C0OPS", slack.MsgOptionText("restarting…", false))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	done := slack.NewSectionBlock(slack.NewTextBlockObject(slack.PlainTextType, "restarted", false, false), nil, nil)
	channel, gotTS, text, err := api.UpdateMessageContext(ctx(t), "C0OPS", ts, slack.MsgOptionText("restarted", false), slack.MsgOptionBlocks(done))
	if err != nil {
		t.Fatalf("UpdateMessage: %v", err)
	}
	if channel != "C0OPS" || gotTS != ts || text != "restarted" {
		t.Errorf("UpdateMessage = %q, %q, %q; want C0OPS, %q, restarted", channel, gotTS, text, ts)
	}
	calls := s.Calls("chat.update")
	if len(calls) != 1 || calls[0].Param("ts") != ts || calls[0].Param("text") != "restarted" || len(calls[0].Blocks()) != 1 {
		t.Fatalf("chat.update calls = %+v; want one with ts %s, text and blocks", calls, ts)
	}

	_, _, _, err = api.UpdateMessageContext(ctx(t), "C0OPS", "1.000000", slack.MsgOptionText("x", false))
	if got := slackError(err); got != "message_not_found" {
		t.Errorf("UpdateMessage of an unknown ts: %v; want message_not_found", err)
	}
}

func TestPostEphemeral(t *testing.T) {
	s := fakeslack.New(t)
	ts, err := client(s).PostEphemeralContext(ctx(t), "C0OPS", "U1", slack.MsgOptionText("only you", false))
	if err != nil || ts == "" {
		t.Fatalf("PostEphemeral = %q, %v; want a ts", ts, err)
	}
	c := s.WaitCalls(t, "chat.postEphemeral", 1, wait)[0]
	if c.Param("user") != "U1" || c.Param("channel") != "C0OPS" {
		t.Errorf("chat.postEphemeral user, channel = %q, %q; want U1, C0OPS", c.Param("user"), c.Param("channel"))
	}
}

func TestGetUserGroupMembers(t *testing.T) {
	s := fakeslack.New(t)
	s.SetUsergroupMembers("S0OPS", "U1", "U2")
	s.SetUsergroupMembers("S0EMPTY")
	api := client(s)
	tests := []struct {
		group   string
		want    string
		wantErr string
	}{
		{"S0OPS", "U1,U2", ""},
		{"S0EMPTY", "", ""},
		{"S0NONE", "", "no_such_subteam"},
	}
	for _, tt := range tests {
		got, err := api.GetUserGroupMembersContext(ctx(t), tt.group)
		if slackError(err) != tt.wantErr || strings.Join(got, ",") != tt.want {
			t.Errorf("GetUserGroupMembers(%q) = %v, %v; want %q, %q", tt.group, got, err, tt.want, tt.wantErr)
		}
	}
	if c := s.Calls("usergroups.users.list")[0]; c.Param("usergroup") != "S0OPS" {
		t.Errorf("usergroup = %q; want S0OPS", c.Param("usergroup"))
	}
}

func TestPlanUpgradeRequired(t *testing.T) {
	s := fakeslack.New(t)
	s.SetUsergroupMembers("S0OPS", "U1")
	s.SetPlanUpgradeRequired()
	_, err := client(s).GetUserGroupMembersContext(ctx(t), "S0OPS")
	if err == nil || !strings.Contains(err.Error(), "plan_upgrade_required") {
		t.Fatalf("GetUserGroupMembers on a free plan: %v; want plan_upgrade_required", err)
	}
}

func TestAuthTestScopes(t *testing.T) {
	s := fakeslack.New(t)
	s.SetScopes("chat:write", "commands", "files:write")
	var hookScopes string
	api := client(s, slack.OptionOnResponseHeaders(func(path string, h http.Header) {
		if path == "auth.test" {
			hookScopes = h.Get("X-OAuth-Scopes")
		}
	}))
	resp, err := api.AuthTestContext(ctx(t))
	if err != nil {
		t.Fatalf("AuthTest: %v", err)
	}
	if resp.UserID != fakeslack.BotUserID || resp.BotID != fakeslack.BotID || resp.TeamID != fakeslack.TeamID || resp.URL != fakeslack.TeamURL {
		t.Errorf("AuthTest = %+v; want the fake bot in the fake team", resp)
	}
	const want = "chat:write,commands,files:write"
	if got := resp.Header.Get("X-OAuth-Scopes"); got != want {
		t.Errorf("AuthTestResponse.Header X-OAuth-Scopes = %q; want %q", got, want)
	}
	if hookScopes != want {
		t.Errorf("OptionOnResponseHeaders saw X-OAuth-Scopes %q; want %q", hookScopes, want)
	}
}

func TestTokens(t *testing.T) {
	s := fakeslack.New(t)
	s.SetBotToken("xoxb-real")
	tests := []struct {
		token, want string
	}{
		{"xoxb-real", ""},
		{"xoxb-wrong", "invalid_auth"},
		{"", "not_authed"},
	}
	for _, tt := range tests {
		_, err := slack.New(tt.token, slack.OptionAPIURL(s.APIURL())).AuthTestContext(ctx(t))
		if got := slackError(err); got != tt.want {
			t.Errorf("AuthTest with token %q: %v; want %q", tt.token, err, tt.want)
		}
	}
	calls := s.Calls("auth.test")
	if len(calls) != 3 || calls[1].Token != "xoxb-wrong" || calls[1].Error != "invalid_auth" {
		t.Errorf("auth.test calls = %+v; want 3, the second with token xoxb-wrong answered invalid_auth", calls)
	}
}

func TestUsersAndChannels(t *testing.T) {
	s := fakeslack.New(t)
	s.SetUser("U1", "amina")
	s.SetChannel("C0OPS", "ops")
	api := client(s)

	u, err := api.GetUserInfoContext(ctx(t), "U1")
	if err != nil || u.ID != "U1" || u.Name != "amina" || u.RealName != "amina" || u.Profile.DisplayName != "amina" {
		t.Errorf("GetUserInfo(U1) = %+v, %v; want amina", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx(t), "U9"); slackError(err) != "user_not_found" {
		t.Errorf("GetUserInfo(U9): %v; want user_not_found", err)
	}
	ch, err := api.GetConversationInfoContext(ctx(t), &slack.GetConversationInfoInput{ChannelID: "C0OPS"})
	if err != nil || ch.ID != "C0OPS" || ch.Name != "ops" || !ch.IsMember {
		t.Errorf("GetConversationInfo(C0OPS) = %+v, %v; want ops, a member", ch, err)
	}
	if _, err := api.GetConversationInfoContext(ctx(t), &slack.GetConversationInfoInput{ChannelID: "C9"}); slackError(err) != "channel_not_found" {
		t.Errorf("GetConversationInfo(C9): %v; want channel_not_found", err)
	}
	s.SetChannelWithoutBot("C0PUB", "general", false)
	s.SetChannelWithoutBot("G0PRIV", "secret", true)
	for _, want := range []struct {
		id, name string
		private  bool
	}{{"C0PUB", "general", false}, {"G0PRIV", "secret", true}} {
		ch, err := api.GetConversationInfoContext(ctx(t), &slack.GetConversationInfoInput{ChannelID: want.id})
		if err != nil || ch.Name != want.name || ch.IsMember || ch.IsPrivate != want.private {
			t.Errorf("GetConversationInfo(%s) = %+v, %v; want %s, not a member, private %v", want.id, ch, err, want.name, want.private)
		}
	}
}

func TestUploadFile(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	const content = "line 1\nline 2\n"
	f, err := api.UploadFileContext(ctx(t), slack.UploadFileParameters{
		Filename: "whatsapp.log", Title: "whatsapp logs", Content: content, FileSize: len(content),
		Channel: "C0OPS", InitialComment: "the last 2 lines", ThreadTimestamp: "1732770000.000100",
	})
	if err != nil {
		t.Fatalf("UploadFile: %v", err)
	}
	if !strings.HasPrefix(f.ID, "F") || f.Title != "whatsapp logs" {
		t.Errorf("UploadFile = %+v; want an F id and the title", f)
	}
	ups := s.Uploads()
	if len(ups) != 1 {
		t.Fatalf("Uploads() = %+v; want 1", ups)
	}
	want := fakeslack.Upload{FileID: f.ID, Filename: "whatsapp.log", Title: "whatsapp logs", Content: []byte(content),
		Channel: "C0OPS", InitialComment: "the last 2 lines", ThreadTS: "1732770000.000100"}
	if got := ups[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("Uploads()[0] = %+v; want %+v", got, want)
	}
	var methods []string
	for _, c := range s.Calls("") {
		methods = append(methods, c.Method)
	}
	if got := strings.Join(methods, " "); got != "files.getUploadURLExternal files.completeUploadExternal" {
		t.Errorf("calls = %s; want files.getUploadURLExternal files.completeUploadExternal", got)
	}
}

func TestCompleteUploadWithoutBytes(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	u, err := api.GetUploadURLExternalContext(ctx(t), slack.GetUploadURLExternalParameters{FileName: "a.txt", FileSize: 3})
	if err != nil {
		t.Fatalf("GetUploadURLExternal: %v", err)
	}
	if !strings.HasPrefix(u.UploadURL, s.URL()+"/upload/") {
		t.Errorf("upload_url = %q; want one on %s", u.UploadURL, s.URL())
	}
	_, err = api.CompleteUploadExternalContext(ctx(t), slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID}}, Channel: "C0OPS"})
	if slackError(err) != "file_not_found" {
		t.Errorf("CompleteUploadExternal before the bytes: %v; want file_not_found", err)
	}
	if ups := s.Uploads(); len(ups) != 0 {
		t.Errorf("Uploads() = %+v; want none", ups)
	}
}

// TestFailNextThenRetry is the alerts outbox's scenario: 500, then 429 with
// Retry-After 1, then 200, through slack-go's own retries.
func TestFailNextThenRetry(t *testing.T) {
	s := fakeslack.New(t)
	s.FailNext("chat.postMessage", fakeslack.Answer{Status: 500}, fakeslack.Answer{Status: 429, RetryAfter: 1})
	cfg := slack.DefaultRetryConfig()
	cfg.MaxRetries = 3
	cfg.RetryAfterJitter = 0
	cfg.BackoffInitial, cfg.BackoffJitter = 10*time.Millisecond, 0
	// AllBuiltinRetryHandlers is connection errors + 429; 5xx is opt-in.
	cfg.Handlers = append(slack.AllBuiltinRetryHandlers(cfg), slack.NewServerErrorRetryHandler(cfg))
	api := client(s, slack.OptionRetryConfig(cfg))

	began := time.Now()
	_, ts, err := api.PostMessageContext(ctx(t), "C0ALERTS", slack.MsgOptionText("whatsapp is down", false))
	if err != nil || ts == "" {
		t.Fatalf("PostMessage = %q, %v; want success after retries", ts, err)
	}
	if took := time.Since(began); took < time.Second {
		t.Errorf("PostMessage took %v; want at least the 1 s of Retry-After", took)
	}
	calls := s.Calls("chat.postMessage")
	var got []string
	for _, c := range calls {
		got = append(got, fmt.Sprintf("%d %s", c.Status, c.Error))
	}
	if want := "500 internal_error|429 ratelimited|200 "; strings.Join(got, "|") != want {
		t.Errorf("attempts = %q; want %q", strings.Join(got, "|"), want)
	}
	for _, c := range calls {
		if c.Param("text") != "whatsapp is down" {
			t.Errorf("attempt body text = %q; want the message on every attempt", c.Param("text"))
		}
	}
}

// TestFailNextWithoutRetry shows what each scripted answer looks like to a
// caller that does its own retrying.
func TestFailNextWithoutRetry(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	tests := []struct {
		answer fakeslack.Answer
		check  func(error) bool
		want   string
	}{
		{fakeslack.Answer{Status: 500}, func(err error) bool {
			var sc slack.StatusCodeError
			return errors.As(err, &sc) && sc.Code == 500 && sc.Retryable()
		}, "slack.StatusCodeError 500"},
		{fakeslack.Answer{Status: 429, RetryAfter: 7}, func(err error) bool {
			var rl *slack.RateLimitedError
			return errors.As(err, &rl) && rl.RetryAfter == 7*time.Second
		}, "*slack.RateLimitedError 7s"},
		{fakeslack.Answer{Error: "channel_not_found"}, func(err error) bool {
			return slackError(err) == "channel_not_found"
		}, "channel_not_found"},
		{fakeslack.Answer{Body: `{"ok":false,"error":"is_archived"}`}, func(err error) bool {
			return slackError(err) == "is_archived"
		}, "is_archived"},
	}
	for _, tt := range tests {
		s.FailNext("chat.postMessage", tt.answer)
		_, _, err := api.PostMessageContext(ctx(t), "C0ALERTS", slack.MsgOptionText("x", false))
		if !tt.check(err) {
			t.Errorf("FailNext(%+v): PostMessage error %#v; want %s", tt.answer, err, tt.want)
		}
	}
	if _, _, err := api.PostMessageContext(ctx(t), "C0ALERTS", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("PostMessage after the scripted answers: %v; want normal service", err)
	}
}

func TestUnknownMethod(t *testing.T) {
	s := fakeslack.New(t)
	_, err := client(s).GetEmojiContext(ctx(t))
	if slackError(err) != "unknown_method" {
		t.Errorf("GetEmoji: %v; want unknown_method", err)
	}
	if calls := s.Calls(""); len(calls) != 1 || calls[0].Method != "emoji.list" || calls[0].Error != "unknown_method" {
		t.Errorf("Calls(\"\") = %+v; want the emoji.list call, answered unknown_method", calls)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitCallsTimeoutListsCalls(t *testing.T) {
	s := fakeslack.New(t)
	if _, _, err := client(s).PostMessageContext(ctx(t), "C0OPS", slack.MsgOptionText("hello", false)); err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WaitCalls(rec, "chat.update", 1, 20*time.Millisecond)
	}()
	<-done
	for _, want := range []string{"for 1 chat.update calls, got 0", "chat.postMessage -> 200 ok", `channel="C0OPS"`, `text="hello"`} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("WaitCalls failure message:\n%s\nwant it to contain %q", rec.msg, want)
		}
	}
	if strings.Contains(rec.msg, fakeslack.DefaultBotToken) {
		t.Errorf("WaitCalls failure message shows the token:\n%s", rec.msg)
	}
}

func TestWaitCallsWakesOnCall(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	errc := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessageContext(context.Background(), "C0OPS", slack.MsgOptionText("later", false))
		errc <- err
	}()
	calls := s.WaitCalls(t, "chat.postMessage", 1, wait)
	if err := <-errc; err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if calls[0].Param("text") != "later" {
		t.Errorf("text = %q; want later", calls[0].Param("text"))
	}
}

func TestConcurrentPosts(t *testing.T) {
	s := fakeslack.New(t)
	api := client(s)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, _, err := api.PostMessageContext(ctx(t), "C0OPS", slack.MsgOptionText(fmt.Sprint(i), false)); err != nil {
				t.Errorf("PostMessage %d: %v", i, err)
			}
			s.Calls("")
		})
	}
	wg.Wait()
	calls := s.WaitCalls(t, "chat.postMessage", n, wait)
	if len(calls) != n {
		t.Errorf("recorded %d calls; want %d", len(calls), n)
	}
}

func TestResponseURL(t *testing.T) {
	s := fakeslack.New(t)
	u := s.NewResponseURL()
	if other := s.NewResponseURL(); other == u || !strings.HasPrefix(u, s.URL()) {
		t.Fatalf("NewResponseURL = %q then %q; want distinct URLs on %s", u, other, s.URL())
	}
	post := func(text string) error {
		return slack.PostWebhookContext(ctx(t), u, &slack.WebhookMessage{Text: text, ResponseType: slack.ResponseTypeInChannel, ReplaceOriginal: true})
	}

	s.FailNext(u, fakeslack.Answer{Status: 503})
	var sc slack.StatusCodeError
	if err := post("lost"); !errors.As(err, &sc) || sc.Code != 503 {
		t.Fatalf("post with a scripted 503: %v; want StatusCodeError 503", err)
	}
	for i := range 5 {
		if err := post(fmt.Sprintf("post %d", i)); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if err := post("sixth"); !errors.As(err, &sc) || sc.Code != 404 {
		t.Errorf("sixth post: %v; want 404 (used_url)", err)
	}
	posts := s.WaitResponseURLPosts(t, u, 5, wait)
	if len(posts) != 5 || posts[0]["text"] != "post 0" || posts[0]["replace_original"] != true || posts[0]["response_type"] != "in_channel" {
		t.Errorf("posts = %v; want 5, the first {text: post 0, replace_original: true, response_type: in_channel}", posts)
	}
	if err := slack.PostWebhookContext(ctx(t), s.URL()+"/response/999", &slack.WebhookMessage{Text: "x"}); !errors.As(err, &sc) || sc.Code != 404 {
		t.Errorf("post to an unknown response URL: %v; want 404", err)
	}
}

// socketClient is a slack-go Socket Mode client running against the fake,
// acknowledging every envelope with a payload that shows what it parsed.
type socketClient struct {
	runErr chan error // RunContext's result
	stop   func()
}

func startSocketMode(t *testing.T, s *fakeslack.Server, appToken string, opts ...socketmode.Option) *socketClient {
	t.Helper()
	api := slack.New(fakeslack.DefaultBotToken, slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(appToken))
	smc := socketmode.New(api, opts...)
	runCtx, cancel := context.WithCancel(context.Background())
	c := &socketClient{runErr: make(chan error, 1)}
	runDone, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(runDone)
		c.runErr <- smc.RunContext(runCtx)
	}()
	go func() {
		defer close(drained)
		for {
			select {
			case <-runCtx.Done():
				return
			case evt := <-smc.Events:
				ack(smc, evt)
			}
		}
	}()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			<-runDone
			<-drained
		})
	}
	t.Cleanup(c.stop)
	return c
}

func ack(smc *socketmode.Client, evt socketmode.Event) {
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	var payload any
	switch d := evt.Data.(type) {
	case slack.SlashCommand:
		payload = map[string]string{"text": fmt.Sprintf("%s %s from %s in %s", d.Command, d.Text, d.UserName, d.ChannelName)}
	case slack.InteractionCallback:
		if len(d.ActionCallback.BlockActions) > 0 {
			a := d.ActionCallback.BlockActions[0]
			payload = map[string]string{"text": fmt.Sprintf("clicked %s=%s by %s in %s", a.ActionID, a.Value, d.User.ID, d.Channel.ID)}
		}
	}
	_ = smc.Ack(*evt.Request, payload)
}

func ackText(t *testing.T, ack map[string]any) string {
	t.Helper()
	payload, _ := ack["payload"].(map[string]any)
	text, _ := payload["text"].(string)
	return text
}

func TestSocketModeSlashCommandAndReconnect(t *testing.T) {
	s := fakeslack.New(t)
	s.SetAppToken("xapp-1-test")
	s.SetUser("U1", "amina")
	s.SetChannel("C0OPS", "ops")
	startSocketMode(t, s, "xapp-1-test")
	s.SocketConnected(t, wait)

	env, responseURL := s.SlashCommand("/sanasend", "status whatsapp", "U1", "C0OPS")
	payload, _ := env["payload"].(map[string]any)
	if payload["response_url"] != responseURL {
		t.Errorf("payload response_url = %v; want %s", payload["response_url"], responseURL)
	}
	id := s.SendEnvelope(t, env)
	got := s.WaitAck(t, id, wait)
	if want := "/sanasend status whatsapp from amina in ops"; ackText(t, got) != want {
		t.Errorf("ack = %v; want payload text %q", got, want)
	}
	open := s.Calls("apps.connections.open")
	if len(open) != 1 || open[0].Token != "xapp-1-test" {
		t.Errorf("apps.connections.open calls = %+v; want one with the app token", open)
	}

	s.DropSocket()
	s.SocketConnected(t, wait)
	if n := s.SocketConnections(); n != 2 {
		t.Errorf("SocketConnections() = %d after a reconnection; want 2", n)
	}
	env, _ = s.BlockAction("confirm", "token-1", "U1", "C0OPS")
	id = s.SendEnvelope(t, env)
	if want := "clicked confirm=token-1 by U1 in C0OPS"; ackText(t, s.WaitAck(t, id, wait)) != want {
		t.Errorf("ack after reconnection: want payload text %q", want)
	}
	if n := len(s.Calls("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open called %d times; want 2", n)
	}
}

func TestSocketModeWrongAppToken(t *testing.T) {
	s := fakeslack.New(t)
	c := startSocketMode(t, s, "xapp-wrong")
	select {
	case err := <-c.runErr:
		if err == nil || err.Error() != "invalid_auth" {
			t.Errorf("RunContext with a wrong app token: %v; want invalid_auth", err)
		}
	case <-time.After(wait):
		t.Fatalf("RunContext did not give up on a wrong app token; calls:\n%+v", s.Calls(""))
	}
	c = startSocketMode(t, s, fakeslack.DefaultBotToken)
	// slack-go gives up only on invalid_auth and the like: it retries this one.
	calls := s.WaitCalls(t, "apps.connections.open", 2, wait)
	c.stop()
	if calls[1].Error != "not_allowed_token_type" {
		t.Errorf("apps.connections.open with the bot token answered %q; want not_allowed_token_type", calls[1].Error)
	}
}

// TestSocketModePings shows the fake's pings keep a client with a short
// ping deadline connected: without them it would reconnect every 300 ms.
func TestSocketModePings(t *testing.T) {
	s := fakeslack.New(t)
	s.SetPingInterval(25 * time.Millisecond)
	startSocketMode(t, s, fakeslack.DefaultAppToken, socketmode.OptionPingInterval(300*time.Millisecond))
	s.SocketConnected(t, wait)
	time.Sleep(700 * time.Millisecond) // an observation window, not synchronisation
	if n := s.SocketConnections(); n != 1 {
		t.Errorf("SocketConnections() = %d; want 1: the client should not have missed pings", n)
	}
}

// TestCloseLeavesNoGoroutine closes the fake under a connected client: Close
// must not wait for the client, and must leave none of its goroutines.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := fakeslack.New(t)
	c := startSocketMode(t, s, fakeslack.DefaultAppToken)
	s.SocketConnected(t, wait)
	s.Close()
	c.stop()
	goleak.VerifyNone(t, ignore)
}
