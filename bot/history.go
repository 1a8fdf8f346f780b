package bot

import (
	"context"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// History is what `uptime`, `incidents`, `status` and `doctor` need of the
// services' history (*history.Store). Health must not touch the database:
// it is read on every status card, whatever the file's state.
type History interface {
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
	Incidents(ctx context.Context, service string, n int) ([]history.Incident, error)
	Health() history.Health
}

// StatusHistoryTimeout is how long the status card waits for the history
// by default: a slow or locked database must not delay the reply.
const StatusHistoryTimeout = 500 * time.Millisecond

// HistoryCard is what the status card shows from the history: the last 24
// hours, the latest incident, and the history's own trouble.
type HistoryCard struct {
	// Day is the service's last 24 hours (StatusWindow); nil when it
	// could not be read (Problem says why).
	Day *history.Report
	// Last is the service's latest incident, however old; nil when none
	// is recorded or it could not be read.
	Last *history.Incident
	// Health is the history's state when it is not fine (HealthTrouble):
	// writes failing, facts dropped; nil when all is well.
	Health *history.Health
	// Problem, when not "", is one sentence safe to show on why the card
	// has no figures: the history did not answer in time, could not be
	// read, or is not kept.
	Problem string
}

// StatusWindow is the stretch of history the status card sums up.
const StatusWindow = 24 * time.Hour

// HealthTrouble reports whether h is worth showing: the writer fails or
// failed, or facts were lost.
func HealthTrouble(h history.Health) bool {
	return h.Failing || h.LastError != "" || h.Dropped > 0
}

// historyCard starts reading the status card's history for service, at
// most r.histTimeout, while the caller asks the service for its status;
// the function it returns waits for the card. It returns nil where no
// history is kept by design (the card says nothing), and a card with one
// line where the history could not be opened.
func (r *Router) historyCard(ctx context.Context, service string) func() *HistoryCard {
	if r.history == nil {
		if !r.histMissing {
			return func() *HistoryCard { return nil }
		}
		card := &HistoryCard{Problem: r.noHist}
		return func() *HistoryCard { return card }
	}
	ctx, cancel := context.WithTimeout(ctx, r.histTimeout)
	done := make(chan *HistoryCard, 1)
	go func() { done <- r.readHistoryCard(ctx, service) }()
	return func() *HistoryCard {
		defer cancel()
		select {
		case card := <-done:
			return card
		case <-ctx.Done():
		}
		select {
		case card := <-done: // ready at the deadline: take it
			return card
		default:
		}
		r.audit.Warn().Str("service", service).Dur("timeout", r.histTimeout).Msg("status: the history did not answer in time")
		card := &HistoryCard{Problem: HistoryTimeoutText}
		if h := r.history.Health(); HealthTrouble(h) {
			card.Health = &h
		}
		return card
	}
}

// readHistoryCard reads the card: the last StatusWindow in hourly buckets
// and the latest incident.
func (r *Router) readHistoryCard(ctx context.Context, service string) *HistoryCard {
	card := &HistoryCard{}
	if h := r.history.Health(); HealthTrouble(h) {
		card.Health = &h
	}
	now := r.now()
	day, err := r.history.Uptime(ctx, service, now.Add(-StatusWindow), now, time.Hour)
	if err == nil {
		card.Day = &day
		var last []history.Incident
		if last, err = r.history.Incidents(ctx, service, 1); err == nil && len(last) > 0 {
			card.Last = &last[0]
		}
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		card.Problem = HistoryTimeoutText
	default:
		r.audit.Warn().Err(err).Str("service", service).Msg("status: the history could not be read")
		card.Problem = HistoryUnreadableText(service, err)
	}
	return card
}

// historyCheck is the doctor's line about the history; ok is false where
// no history is kept by design (the console without one).
func (r *Router) historyCheck() (doctor.Check, bool) {
	if r.history == nil {
		if !r.histMissing {
			return doctor.Check{}, false
		}
		return doctor.HistoryMissing(r.noHist), true
	}
	return doctor.History(r.history.Health(), history.SchemaVersion, r.now()), true
}

var _ History = (*history.Store)(nil)

// ChartRenderer draws the chart of an uptime report as a PNG, its times in
// loc.
type ChartRenderer interface {
	RenderUptime(r history.Report, loc *time.Location) ([]byte, error)
}

// uptime answers `uptime [service] [window]`: the report of the window
// that ends now, and its chart when a renderer is set. A chart that cannot
// be drawn leaves the numbers: the reply says so.
func (r *Router) uptime(ctx context.Context, _ Request, cmd Command, svc Service) Reply {
	if r.history == nil {
		return Reply{Kind: KindError, Text: r.noHist}
	}
	now := r.now()
	period := cmd.Period
	if period <= 0 {
		period = DefaultUptimeWindow
	}
	rep, err := r.history.Uptime(ctx, svc.Name(), now.Add(-period), now, UptimeBucket(period))
	if err != nil {
		return historyError(err, svc.Name())
	}
	reply := Reply{Kind: KindUptime, Uptime: &rep, At: now}
	if r.chart != nil {
		png, err := r.chart.RenderUptime(rep, now.Location())
		if err != nil || len(png) == 0 {
			reply.ChartFailed = true
			r.audit.Warn().Err(err).Str("service", svc.Name()).Msg("uptime chart could not be drawn")
		} else {
			reply.Chart = png
		}
	}
	return reply
}

// incidents answers `incidents [service] [N]`.
func (r *Router) incidents(ctx context.Context, _ Request, cmd Command, svc Service) Reply {
	if r.history == nil {
		return Reply{Kind: KindError, Text: r.noHist}
	}
	n := cmd.Count
	if n <= 0 {
		n = DefaultIncidents
	}
	list, err := r.history.Incidents(ctx, svc.Name(), n)
	if err != nil {
		return historyError(err, svc.Name())
	}
	return Reply{Kind: KindIncidents, Incidents: list, Asked: n, At: r.now()}
}

// historyError is the reply to a history that could not be read: one safe
// sentence, the raw error kept for the audit line.
func historyError(err error, service string) Reply {
	err = usererr.Wrap(err, usererr.Unavailable, "%s", HistoryUnreadableText(service, err))
	return Reply{Kind: KindError, Text: usererr.Message(err), Err: err}
}
