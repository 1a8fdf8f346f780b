package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/history"
)

// TestHistoryCheck: the verdict and the hint of the history's line for
// each state of the writer (the words themselves are in the bot's goldens).
func TestHistoryCheck(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	ok := history.Health{Path: "/state/history.db", LastWrite: now.Add(-3 * time.Second), FileSize: 5 << 20}
	with := func(f func(*history.Health)) history.Health { h := ok; f(&h); return h }
	tests := []struct {
		name    string
		h       history.Health
		verdict Verdict
		hint    string // substring; "" for none
		detail  []string
	}{
		{"fine", ok, VerdictOK, "", []string{"history.db in /state", "5.0 MiB with its log", "last write 3s ago", "schema v3"}},
		{"nothing written", with(func(h *history.Health) { h.LastWrite = time.Time{} }), VerdictOK, "", []string{"nothing written since the bot started"}},
		{"full disk", with(func(h *history.Health) {
			h.Failing, h.LastError, h.Queued, h.Dropped = true, "the disk is full (or the database reached its size limit)", 7, 9
		}), VerdictFail, "free disk space", []string{"writes failing, retrying: the disk is full", "7 facts queued", "9 facts dropped"}},
		{"damaged", with(func(h *history.Health) { h.Failing, h.LastError = true, "the database file is damaged" }), VerdictFail,
			"move history.db (with its -wal and -shm files) aside", []string{"damaged"}},
		{"read-only", with(func(h *history.Health) {
			h.Failing, h.LastError = true, "the database file or its directory is read-only"
		}),
			VerdictFail, "writable", nil},
		{"locked", with(func(h *history.Health) { h.Failing, h.LastError = true, "the database is locked by another process" }),
			VerdictFail, "second bot", nil},
		{"other", with(func(h *history.Health) { h.Failing, h.LastError = true, "the write timed out" }), VerdictFail, "the bot's log", nil},
		{"refused", with(func(h *history.Health) {
			h.LastError, h.LastErrorAt, h.Dropped = "the database refused the write", now.Add(-time.Minute), 1
		}),
			VerdictWarn, "refused facts were dropped", []string{"a fact was refused 1m ago"}},
		{"dropped", with(func(h *history.Health) { h.Dropped = 1 }), VerdictWarn, "gaps", []string{"1 fact dropped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := History(tc.h, 3, now)
			if c.Name != HistoryCheckName || c.Verdict != tc.verdict || (tc.hint == "") != (c.Hint == "") || !strings.Contains(c.Hint, tc.hint) {
				t.Errorf("History = %+v; want verdict %s, hint with %q", c, tc.verdict, tc.hint)
			}
			for _, d := range tc.detail {
				if !strings.Contains(c.Detail, d) {
					t.Errorf("detail %q; want it to contain %q", c.Detail, d)
				}
			}
		})
	}
	for reason, hint := range map[string]string{
		"the database file is damaged": "move history.db", "the disk is full": "restart the bot",
		"the history database was written by a newer sanasend-bot": "run the sanasend-bot that wrote",
	} {
		if c := HistoryMissing("not opened: " + reason); c.Verdict != VerdictFail || !strings.Contains(c.Hint, hint) {
			t.Errorf("HistoryMissing(%q) = %+v; want a failure hinting %q", reason, c, hint)
		}
	}
}
