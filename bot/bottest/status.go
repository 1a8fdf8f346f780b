package bottest

import (
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
)

// HistoryPath is where the cases' history lives.
const HistoryPath = "/var/lib/sanasend-bot/history.db"

// FullDisk is a history whose writer fails on a full disk since 03:02:00,
// with facts queued and lost.
func FullDisk() history.Health {
	return history.Health{Path: HistoryPath, LastWrite: at("03:02:00"), LastError: "the disk is full (or the database reached its size limit)",
		LastErrorAt: at("03:09:58"), Failing: true, Queued: 12, Dropped: 340, FileSize: 48 << 20}
}

// StatusHistoryCases are the status card with what the history says, and
// doctor's history line in each of its states.
func StatusHistoryCases() []Case {
	day := UptimeReport()
	perfect := history.Report{Service: "whatsapp", From: Now.Add(-24 * time.Hour), To: Now, Bucket: time.Hour,
		Uptime: 1, Known: true, Healthy: 24 * time.Hour, Restarts: map[string]int{}}
	unknown := history.Report{Service: "whatsapp", From: Now.Add(-24 * time.Hour), To: Now, Bucket: time.Hour,
		Unknown: 24 * time.Hour, Restarts: map[string]int{}}
	incs := Incidents()
	open, resolved, healed := incs[0], incs[1], incs[2]
	full := FullDisk()
	card := func(c bot.HistoryCard) bot.Reply {
		return bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", At: Now, Status: status(manager.StateHealthy, nil, nil), History: &c}
	}
	fine := history.Health{Path: HistoryPath, LastWrite: Now.Add(-4 * time.Second), FileSize: 12<<20 + 300<<10}
	refused := fine
	refused.LastError, refused.LastErrorAt, refused.Dropped = "the database refused the write", at("02:40:00"), 1
	dropped := fine
	dropped.Dropped = 5000
	damaged := full
	damaged.LastError = "the database file is damaged"
	fresh := history.Health{Path: HistoryPath, FileSize: 96 << 10}
	checks := []doctor.Check{
		{Name: "node", Verdict: doctor.VerdictOK, Detail: "v20.20.2 (/usr/bin/node)"},
		doctor.History(fine, 1, Now),
		doctor.History(fresh, 1, Now),
		doctor.History(full, 1, Now),
		doctor.History(damaged, 1, Now),
		doctor.History(refused, 2, Now),
		doctor.History(dropped, 1, Now),
		doctor.HistoryMissing(bot.NoHistoryOpenText("the database file is damaged")),
	}
	return []Case{
		{"status-history", card(bot.HistoryCard{Day: &day, Last: &open})},
		{"status-history-perfect", card(bot.HistoryCard{Day: &perfect, Last: &healed})},
		{"status-history-unknown", card(bot.HistoryCard{Day: &unknown})},
		{"status-history-full-disk", card(bot.HistoryCard{Day: &day, Last: &resolved, Health: &full})},
		{"status-history-timeout", card(bot.HistoryCard{Problem: bot.HistoryTimeoutText, Health: &full})},
		{"status-history-unreadable", card(bot.HistoryCard{Problem: bot.HistoryUnreadableText("whatsapp", nil)})},
		{"status-history-not-opened", card(bot.HistoryCard{Problem: bot.NoHistoryOpenText("the database file is damaged")})},
		{"doctor-history", bot.Reply{Kind: bot.KindDoctor, Service: "whatsapp", Checks: checks}},
	}
}
