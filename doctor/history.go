package doctor

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// HistoryCheckName is the name of the history's doctor line.
const HistoryCheckName = "history"

// The hints of the history's line: what an operator does about each
// trouble. The bot keeps supervising meanwhile, and says so.
const (
	historyHintFull = "free disk space on the state dir's file system (or raise history.max_size); " +
		"the bot keeps supervising and alerting, and writes the history again by itself once there is room"
	historyHintDamaged = "stop the bot, move history.db (with its -wal and -shm files) aside, and start it again: " +
		"a new history begins; the bot keeps supervising meanwhile"
	historyHintReadOnly = "make the state dir and history.db writable by the bot's user; the bot keeps supervising and retries the writes"
	historyHintLocked   = "another process holds the history: stop it (a second bot on the same state dir?); the bot retries the writes"
	historyHintNewer    = "run the sanasend-bot that wrote history.db, or stop the bot and move history.db aside; the bot keeps supervising meanwhile"
	historyHintReopen   = "fix that (free disk space, make the state dir writable) and restart the bot: the history is opened at start; the bot supervises without it meanwhile"
	historyHintOther    = "the bot's log has the full error; the bot keeps supervising and retries the writes"
	historyHintRefused  = "the bot's log has the full error; the refused facts were dropped, the others are written"
	historyHintDropped  = "facts were lost while the writer could not keep up or the disk failed: figures may have gaps; nothing to do if writes succeed now"
)

// History is the doctor's line about the services' history: where it is,
// its size (database and write-ahead log), its last write, its schema
// version, what waits and what was lost; a failing writer is a failure
// with what to do, facts lost a warning. h.LastError is already safe to
// show (history.SafeMessage).
func History(h history.Health, schema int, now time.Time) Check {
	c := Check{Name: HistoryCheckName, Verdict: VerdictOK}
	last := "nothing written since the bot started"
	if !h.LastWrite.IsZero() {
		last = "last write " + human.Ago(h.LastWrite, now)
	}
	parts := []string{
		filepath.Base(h.Path) + " in " + filepath.Dir(h.Path),
		human.Bytes(uint64(max(h.FileSize, 0))) + " with its log",
		last,
		fmt.Sprintf("schema v%d", schema),
	}
	if h.Queued > 0 {
		parts = append(parts, human.Count(h.Queued, "fact")+" queued")
	}
	if h.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%s dropped since start", human.Count(int(min(h.Dropped, 1<<31)), "fact")))
	}
	detail := strings.Join(parts, ", ")
	switch {
	case h.Failing:
		c.Verdict = VerdictFail
		detail = "writes failing, retrying: " + h.LastError + "; " + detail
		c.Hint = historyHint(h.LastError)
	case h.LastError != "":
		c.Verdict = VerdictWarn
		at := ""
		if !h.LastErrorAt.IsZero() {
			at = " " + human.Ago(h.LastErrorAt, now)
		}
		detail = "a fact was refused" + at + ": " + h.LastError + "; " + detail
		c.Hint = historyHintRefused
	case h.Dropped > 0:
		c.Verdict = VerdictWarn
		c.Hint = historyHintDropped
	}
	c.Detail = detail
	return c
}

// HistoryMissing is the doctor's line when the history could not be opened
// at start: reason is the router's sentence (safe to show).
func HistoryMissing(reason string) Check {
	hint := historyHint(reason)
	if hint != historyHintDamaged && hint != historyHintNewer {
		hint = historyHintReopen
	}
	return Check{Name: HistoryCheckName, Verdict: VerdictFail, Detail: reason, Hint: hint}
}

// historyHint picks the hint for a history.SafeMessage.
func historyHint(msg string) string {
	switch {
	case strings.Contains(msg, "full"):
		return historyHintFull
	case strings.Contains(msg, "damaged"):
		return historyHintDamaged
	case strings.Contains(msg, "newer sanasend-bot"):
		return historyHintNewer
	case strings.Contains(msg, "read-only"), strings.Contains(msg, "cannot be opened"):
		return historyHintReadOnly
	case strings.Contains(msg, "locked"):
		return historyHintLocked
	}
	return historyHintOther
}
