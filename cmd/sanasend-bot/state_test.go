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
