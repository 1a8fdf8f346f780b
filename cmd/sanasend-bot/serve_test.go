package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/manager"
)

const testSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// signedPost sends body to url signed as Slack signs its requests.
func signedPost(t testing.TB, target, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	signRequest(req, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// signRequest signs req as Slack does, with the test signing secret.
func signRequest(req *http.Request, body string, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(testSigningSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

func slashCommand(t testing.TB, base, user, channel, text, responseURL string) {
	t.Helper()
	form := url.Values{"command": {"/sanasend"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"channel_id": {channel}, "response_url": {responseURL}, "team_id": {"T0TEAM"}}
	if resp := signedPost(t, base+"/slack/commands", "application/x-www-form-urlencoded", form.Encode()); resp.StatusCode != 200 {
		t.Fatalf("slash command %q: HTTP %d", text, resp.StatusCode)
	}
}

func click(t *testing.T, base, user, channel, actionID, value, responseURL string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "name": strings.ToLower(user)},
		"channel":      map[string]any{"id": channel},
		"response_url": responseURL,
		"actions":      []map[string]any{{"action_id": actionID, "block_id": "b1", "value": value, "type": "button"}},
	})
	form := url.Values{"payload": {string(payload)}}
	if resp := signedPost(t, base+"/slack/interactions", "application/x-www-form-urlencoded", form.Encode()); resp.StatusCode != 200 {
		t.Fatalf("click %s: HTTP %d", actionID, resp.StatusCode)
	}
}

// buttonValue finds the value of the button with actionID in a posted message.
func buttonValue(t *testing.T, msg map[string]any, actionID string) string {
	t.Helper()
	data, _ := json.Marshal(msg)
	var found string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["action_id"] == actionID {
				found, _ = x["value"].(string)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var generic any
	_ = json.Unmarshal(data, &generic)
	walk(generic)
	if found == "" {
		t.Fatalf("no %s button in %s", actionID, data)
	}
	return found
}

func messageText(m map[string]any) string {
	data, _ := json.Marshal(m)
	return string(data)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveFixture runs `sanasend-bot serve` against a fake Slack and a copy
// of the stand-in.
type serveFixture struct {
	fake       *fakeslack.Server
	base       string
	configPath string
	logs       *lockedBuffer
}

func startServe(t testing.TB) serveFixture {
	t.Helper()
	fake := fakeslack.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	configPath := demoCopyWith(t, fmt.Sprintf(`slack:
  bot_token: xoxb-test
  signing_secret: %s
  api_url: %s
  listen: %s
  alerts_channel: C0ALERTS
  staff:
    users: [U0ALICE]
`, testSigningSecret, fake.APIURL(), listen))
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", configPath}, strings.NewReader(""), logs, logs) }()
	f := serveFixture{fake: fake, base: "http://" + listen, configPath: configPath, logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		// The bot never stops the service on exit: stop it here.
		stopService(t, configPath)
		if strings.Contains(logs.String(), testSigningSecret) || strings.Contains(logs.String(), "xoxb-test") {
			t.Error("a secret appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(f.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

// stopService stops the stand-in through a manager of its own, as a new bot
// process would (adoption), and fails if anything is left.
func stopService(t testing.TB, configPath string) {
	t.Helper()
	s := adoptService(t, configPath)
	if _, err := s.Stop(context.Background(), manager.Actor{ID: "test"}, nil); err != nil {
		t.Errorf("stop after the test: %v", err)
	}
	if left := psGrep(t, filepath.Dir(configPath)); left != "" {
		t.Errorf("processes left:\n%s", left)
	}
}

func adoptService(t testing.TB, configPath string) *manager.Service {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newManager(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func alive(pid int32) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// TestServeRestartFromSlack is the path of the issue: /sanasend restart,
// a click on the danger button, the real stand-in restarted (new PID, old
// tree gone), and the outcome posted where it was typed and in the alerts
// channel.
func TestServeRestartFromSlack(t *testing.T) {
	f := startServe(t)

	startURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", startURL)
	posts := f.fake.WaitResponseURLPosts(t, startURL, 1, 30*time.Second)
	waitPost(t, f.fake, startURL, "start whatsapp", 30*time.Second)
	_ = posts

	before, err := adoptService(t, f.configPath).Processes(context.Background())
	if err != nil || len(before) == 0 {
		t.Fatalf("processes before restart: %v, %v", before, err)
	}

	promptURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "restart", promptURL)
	prompt := f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0]
	token := buttonValue(t, prompt, "sanasend_confirm")

	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	final := waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second)
	if !strings.Contains(messageText(final), "healthy") {
		t.Errorf("outcome %s: want healthy", messageText(final))
	}

	after, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil || after.State != manager.StateHealthy {
		t.Fatalf("status after restart = %s, %v", after.State, err)
	}
	if after.Processes[0].PID == before[0].PID {
		t.Errorf("restart kept pid %d", before[0].PID)
	}
	for _, p := range before {
		if alive(p.PID) {
			t.Errorf("old process alive after restart: %d %s", p.PID, p.Command)
		}
	}
	// The outcome of each action, besides the monitor's announcements.
	var notices []string
	for _, c := range f.fake.WaitCalls(t, "chat.postMessage", 2, 10*time.Second) {
		if text := c.Form.Get("text"); c.Form.Get("channel") == "C0ALERTS" && strings.HasPrefix(text, "✓") {
			notices = append(notices, text)
		}
	}
	if len(notices) != 2 || !strings.Contains(notices[1], "restart whatsapp") || !strings.Contains(notices[1], "U0ALICE") {
		t.Errorf("alerts channel got %q; want the start and the restart by alice", notices)
	}
}

// waitPost waits for a message posted to a response URL that contains want.
func waitPost(t *testing.T, fake *fakeslack.Server, responseURL, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		posts := fake.ResponseURLPosts(responseURL)
		for i := len(posts) - 1; i >= 0; i-- {
			if text, _ := posts[i]["text"].(string); strings.Contains(text, want) && !strings.Contains(text, "⏳") {
				return posts[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no post containing %q to %s within %s; got %v", want, responseURL, timeout, posts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
