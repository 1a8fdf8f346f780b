//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// TestSocketModeRefusedShowsInHealthAndMetrics: serve in Socket Mode
// against a Slack that refuses the connection (link_disabled) answers
// /healthz with 503 and the cause, exports slack_connected 0, and logs the
// cause at error level.
func TestSocketModeRefusedShowsInHealthAndMetrics(t *testing.T) {
	fake, listen, configPath := serveConfig(t, 0, "")
	raw, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "slack:\n", "slack:\n  app_token: xapp-test\n", 1)
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	fake.RefuseSocket("link_disabled")
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", configPath}, strings.NewReader(""), logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		stopService(t, configPath)
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	base := "http://" + listen
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var code int
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body = get("/healthz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "link_disabled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %s; want 503 with the cause link_disabled", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var health map[string]any
	if err := json.Unmarshal([]byte(body), &health); err != nil || health["status"] != "down" || health["since"] == "" {
		t.Errorf("/healthz body %s (%v); want JSON: down, since when", body, err)
	}
	if code, text := get("/metrics"); code != 200 || !strings.Contains(text, "\nsanasend_slack_connected 0\n") ||
		!strings.Contains(text, "\nsanasend_slack_connection_changed_timestamp_seconds ") {
		t.Errorf("/metrics = %d; want sanasend_slack_connected 0 and the time of the change", code)
	}
	if !strings.Contains(logs.String(), `"cause":"link_disabled"`) || !strings.Contains(logs.String(), `"level":"error"`) {
		t.Error("the refusal is not logged at error level with its cause")
	}
}
