package recorder

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
)

var (
	stateT0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	alice   = manager.Actor{ID: "U0ALICE", Name: "alice"}
)

func openHistory(t *testing.T, path string) *history.Store {
	t.Helper()
	s, err := history.Open(path, history.Options{Clock: clockwork.NewFakeClockAt(stateT0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openAlertState(t *testing.T, s *history.Store) *AlertState {
	t.Helper()
	a, err := OpenAlertState(context.Background(), s, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ackedState is the alert state of a service with an open incident
// acknowledged by alice.
func ackedState() alerts.TrackerState {
	return alerts.TrackerState{LastID: 7, RemindFrom: stateT0, Failures: 2, LastState: manager.StateStopped,
		Incident: &alerts.Incident{Service: "whatsapp", ID: 7, Open: true, Since: stateT0.Add(-time.Minute), State: manager.StateStopped,
			Acked: &alerts.Ack{By: alice, At: stateT0}}}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAlertStateSurvivesReopen: alert state and windows saved through an
// AlertState are loaded by the next one over the same file; windows come
// back in the order of their IDs and a replacement removes the others.
func TestAlertStateSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s := openHistory(t, path)
	a := openAlertState(t, s)
	if _, ok, err := a.LoadAlertState("whatsapp"); ok || err != nil {
		t.Fatalf("LoadAlertState on an empty history = %v, %v; want none", ok, err)
	}
	if err := a.SaveAlertState("whatsapp", alerts.TrackerState{LastID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveAlertState("whatsapp", ackedState()); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveAlertState("other", alerts.TrackerState{LastID: 3, Stopped: true}); err != nil {
		t.Fatal(err)
	}
	win := func(id string) alerts.RecurringWindow {
		return alerts.RecurringWindow{ID: id, Every: "sun 03:00", Duration: time.Hour, Reason: "r" + id, By: alice, Added: stateT0}
	}
	if err := a.SaveWindows([]alerts.RecurringWindow{win("10"), win("2"), win("1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openHistory(t, path)
	a = openAlertState(t, s)
	st, ok, err := a.LoadAlertState("whatsapp")
	if !ok || err != nil || jsonOf(t, st) != jsonOf(t, ackedState()) {
		t.Fatalf("after reopen, LoadAlertState(whatsapp) = %s, %v, %v; want %s", jsonOf(t, st), ok, err, jsonOf(t, ackedState()))
	}
	if st, ok, _ := a.LoadAlertState("other"); !ok || st.LastID != 3 || !st.Stopped {
		t.Errorf("after reopen, LoadAlertState(other) = %+v, %v", st, ok)
	}
	ws, err := a.LoadWindows()
	if err != nil || len(ws) != 3 || ws[0].ID != "1" || ws[1].ID != "2" || ws[2].ID != "10" || jsonOf(t, ws[2]) != jsonOf(t, win("10")) {
		t.Fatalf("after reopen, LoadWindows = %+v, %v; want windows 1, 2, 10 as saved", ws, err)
	}
	if err := a.SaveWindows([]alerts.RecurringWindow{win("2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openHistory(t, path)
	if ws, _ := openAlertState(t, s).LoadWindows(); len(ws) != 1 || ws[0].ID != "2" {
		t.Errorf("after a cancellation and reopen, LoadWindows = %+v; want window 2 only", ws)
	}
}

// TestAlertStateUnreadableDocuments: a service's document that cannot be
// decoded is that service's error only; a window that cannot is left out.
func TestAlertStateUnreadableDocuments(t *testing.T) {
	s := openHistory(t, filepath.Join(t.TempDir(), "history.db"))
	s.PutState(kindAlert, "broken", []byte(`{"last_id":`))
	s.PutState(kindAlert, "whatsapp", []byte(`{"last_id":4}`))
	s.PutState(kindWindow, "1", []byte(`[`))
	s.PutState(kindWindow, "2", []byte(`{"every":"daily 03:00","duration":3600000000000}`))
	a := openAlertState(t, s)
	if _, _, err := a.LoadAlertState("broken"); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("LoadAlertState(broken) = %v; want an error naming it", err)
	}
	if st, ok, err := a.LoadAlertState("whatsapp"); !ok || err != nil || st.LastID != 4 {
		t.Errorf("LoadAlertState(whatsapp) = %+v, %v, %v; want its state", st, ok, err)
	}
	if ws, err := a.LoadWindows(); err != nil || len(ws) != 1 || ws[0].ID != "2" || ws[0].Duration != time.Hour {
		t.Errorf("LoadWindows = %+v, %v; want window 2 only", ws, err)
	}
	// A save replaces the unreadable document.
	if err := a.SaveAlertState("broken", alerts.TrackerState{LastID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.LoadAlertState("broken"); !ok || err != nil {
		t.Errorf("LoadAlertState(broken) after a save = %v, %v", ok, err)
	}
}

// oldBot writes the state files of a bot before the history kept them:
// alerts.json with one acknowledged incident and one added window, and
// confirmations.json with one prompt; it returns the prompt's token.
func oldBot(t *testing.T, dir string) string {
	t.Helper()
	fs, err := alerts.NewFileStateStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.SaveAlertState("whatsapp", ackedState()); err != nil {
		t.Fatal(err)
	}
	if err := fs.SaveWindows([]alerts.RecurringWindow{{ID: "1", Every: "sun 03:00", Duration: time.Hour, By: alice}}); err != nil {
		t.Fatal(err)
	}
	cs, err := bot.OpenConfirmStore(bot.ConfirmConfig{Path: filepath.Join(dir, bot.ConfirmFile), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return cs.Issue(bot.Command{Verb: bot.VerbRestart}, "whatsapp", alice.ID, "C1").Token
}

// TestImportFiles: the files of an older bot move into the history once,
// and are renamed; what the history already holds is never replaced; an
// unreadable file is set aside; a failed import leaves the files.
func TestImportFiles(t *testing.T) {
	alertsFile, confirmFile := alerts.AlertStateFile, bot.ConfirmFile
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string, s *history.Store) // after oldBot
		wantErr bool
		// the files left in dir, and whether the history has the old
		// bot's incident, window and token
		files                   []string
		incident, window, token bool
	}{
		{name: "both files", files: []string{alertsFile + ImportedSuffix, confirmFile + ImportedSuffix},
			incident: true, window: true, token: true},
		{name: "alerts only",
			prepare: func(t *testing.T, dir string, _ *history.Store) { remove(t, dir, confirmFile) },
			files:   []string{alertsFile + ImportedSuffix}, incident: true, window: true},
		{name: "unreadable alerts",
			prepare: func(t *testing.T, dir string, _ *history.Store) { write(t, dir, alertsFile, `{"version":1,"serv`) },
			files:   []string{alertsFile + UnreadableSuffix, confirmFile + ImportedSuffix}, token: true},
		{name: "history holds state already",
			prepare: func(t *testing.T, dir string, s *history.Store) {
				docs := map[string]map[string][]byte{kindAlert: {"whatsapp": []byte(`{"last_id":99}`)}}
				if ok, err := s.ImportState(context.Background(), docs); !ok || err != nil {
					t.Fatalf("ImportState = %v, %v", ok, err)
				}
			},
			files: []string{alertsFile, confirmFile}},
		{name: "history cannot write",
			prepare: func(t *testing.T, _ string, s *history.Store) { _ = s.Close() },
			wantErr: true, files: []string{alertsFile, confirmFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "history.db")
			s := openHistory(t, path)
			token := oldBot(t, dir)
			if tt.prepare != nil {
				tt.prepare(t, dir, s)
			}
			logs := &syncbuf.Buffer{}
			err := ImportFiles(context.Background(), s, dir, zerolog.New(logs))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ImportFiles = %v; want error %v", err, tt.wantErr)
			}
			if got := stateFiles(t, dir); strings.Join(got, " ") != strings.Join(tt.files, " ") {
				t.Errorf("files after the import = %v; want %v", got, tt.files)
			}
			if tt.wantErr {
				return
			}
			_ = s.Close()
			s = openHistory(t, path)
			a := openAlertState(t, s)
			st, _, _ := a.LoadAlertState("whatsapp")
			if got := st.Incident != nil && st.Incident.Acked != nil && st.Incident.Acked.By == alice; got != tt.incident {
				t.Errorf("acknowledged incident in the history = %v (%+v); want %v", got, st, tt.incident)
			}
			ws, _ := a.LoadWindows()
			if got := len(ws) == 1 && ws[0].ID == "1" && ws[0].By == alice; got != tt.window {
				t.Errorf("window in the history = %v (%+v); want %v", got, ws, tt.window)
			}
			tokens, err := NewTokens(s)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := bot.OpenConfirmStore(bot.ConfirmConfig{Tokens: tokens, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			p, err := cs.Take(token, alice)
			if got := err == nil && p.Command.Verb == bot.VerbRestart; got != tt.token {
				t.Errorf("the old bot's token after the import = %+v, %v; want usable %v", p, err, tt.token)
			}
			if tt.incident && !strings.Contains(logs.String(), "state files imported into the history") {
				t.Errorf("the import is not logged: %s", logs)
			}
		})
	}
}

// stateFiles lists the alert and confirmation files in dir, under any
// suffix.
func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), alerts.AlertStateFile) || strings.HasPrefix(e.Name(), bot.ConfirmFile) {
			out = append(out, e.Name())
		}
	}
	return out
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImportFilesNothingToDo: without the older files the history is not
// touched.
func TestImportFilesNothingToDo(t *testing.T) {
	dir := t.TempDir()
	s := openHistory(t, filepath.Join(dir, "history.db"))
	if err := ImportFiles(context.Background(), s, dir, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); !h.LastWrite.IsZero() {
		t.Errorf("Health after nothing to import = %+v; want no write", h)
	}
}
