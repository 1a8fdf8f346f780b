package bot

import (
	"context"
	"time"

	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// History is what `uptime` and `incidents` need of the services' history
// (*history.Store).
type History interface {
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
	Incidents(ctx context.Context, service string, n int) ([]history.Incident, error)
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
