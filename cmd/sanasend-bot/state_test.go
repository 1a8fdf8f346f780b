//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

// TestAlertStateAndTokensLiveInTheHistory: on the real stand-in, an
// incident opened and acknowledged from Slack, and a restart prompt, in
// one bot process; between processes they are in history.db (no
// alerts.json, no confirmations.json); the next process knows the
// acknowledgement and runs the prompt's restart, which resolves the
// incident.
func TestAlertStateAndTokensLiveInTheHistory(t *testing.T) {
	f, start := restartableServe(t, 2*time.Minute, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 1\n  restoration_timeout: 20s\n")
	stateDir := filepath.Join(filepath.Dir(f.configPath), "sanasend-state")
	first := start()
	startFromSlack(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	waitTopAlert(t, f.fake, "STOPPED", killService(t, f.configPath), 10*time.Second)
	if reply := slash(t, f, "ack"); !strings.Contains(reply, "acknowledged the alert") {
		t.Fatalf("ack answered %s", reply)
	}
	promptURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "restart", promptURL)
	token := fakeslack.ButtonValue(t, f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0], "sanasend_confirm")
	first.stop(t)

	for _, name := range []string{alerts.AlertStateFile, bot.ConfirmFile} {
		if _, err := os.Stat(filepath.Join(stateDir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists (%v); want the state in the history only", name, err)
		}
	}
	store, err := history.Open(filepath.Join(stateDir, HistoryFile), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := store.LoadState(context.Background(), "alert")
	_ = store.Close()
	if err != nil {
		t.Fatal(err)
	}
	var st alerts.TrackerState
	if err := json.Unmarshal(saved["whatsapp"], &st); err != nil || st.Incident == nil || st.Incident.Acked == nil ||
		st.Incident.Acked.By.ID != "U0ALICE" {
		t.Fatalf("alert state of whatsapp in the history = %s (%v); want its incident acknowledged by U0ALICE", saved["whatsapp"], err)
	}

	start()
	if reply := slash(t, f, "ack"); !strings.Contains(reply, "already acknowledged by") {
		t.Errorf("ack after the bot restart answered %s; want already acknowledged", reply)
	}
	restarted := time.Now()
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	if final := waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second); !strings.Contains(messageText(final), "healthy") {
		t.Fatalf("the prompt's restart after a bot restart answered %s; want healthy", messageText(final))
	}
	waitAlertSince(t, f.fake, "resolved after", restarted, 20*time.Second)
}

// TestConsoleKeepsTheHistory: the console opens the history, records its
// health checks and the actions typed at it, and closes it when it exits;
// its alert state is in the history too.
func TestConsoleKeepsTheHistory(t *testing.T) {
	configPath := demoCopyWith(t, "monitor:\n  interval: 1s\n  timeout: 2s\n")
	began := time.Now()
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := "start\nstop\ny\nquit\n"
	if err := run(ctx, []string{"console", "-config", configPath, "-user", "alice"}, strings.NewReader(script), &out, &out); err != nil {
		t.Fatalf("console: %v\n%s", err, out.String())
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	store, err := history.Open(filepath.Join(cfg.StateDir, HistoryFile), history.Options{CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rep, err := store.Uptime(context.Background(), "whatsapp", began.Add(-time.Minute), time.Now().Add(time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checks == 0 {
		t.Errorf("the console recorded no health check: %+v\n%s", rep, out.String())
	}
	saved, err := store.LoadState(ctx, "alert")
	if err != nil || saved["whatsapp"] == nil {
		t.Errorf("alert state of whatsapp in the history = %q, %v; want the console's", saved, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, alerts.AlertStateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v); want the console's alert state in the history", alerts.AlertStateFile, err)
	}
	if left := psGrep(t, filepath.Dir(configPath)); left != "" {
		t.Errorf("processes left:\n%s", left)
	}
}
