package recorder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Reader is what the digests read; *history.Store implements it.
type Reader interface {
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
	ActionCounts(ctx context.Context, service string, from, to time.Time) ([]history.ActionCount, error)
	Restorations(ctx context.Context, service string, from, to time.Time) (int, history.Restoration, error)
}

var _ Reader = (*history.Store)(nil)

// Digests reads the digests from the history, so that they survive a bot
// restart: it is the monitor's alerts.DigestSource, and its ReportSource
// for the charts of the weekly digest.
//
// Its figures are the history's: uptime is time-weighted, the time without
// a check (the bot was down) is unknown and maintenance time is neither up
// nor down (history.Store.Uptime); incidents overlap the window, their
// downtime counted from the failure; actions are the recorded ends of
// starts, stops and restarts (AutoRestarts counts the restarts by
// alerts.AutoRestartActor); the latest restoration has its counts and
// failed sessions only (whether it timed out is not recorded). The history
// does not record give-ups: its digests say so (NoGiveUps).
type Digests struct {
	r Reader
}

var (
	_ alerts.DigestSource = (*Digests)(nil)
	_ alerts.ReportSource = (*Digests)(nil)
)

// NewDigests returns the digests read from r.
func NewDigests(r Reader) (*Digests, error) {
	if r == nil {
		return nil, errors.New("new digests: no history")
	}
	return &Digests{r: r}, nil
}

// Digests returns the digests of the history the recorder writes to; nil
// when its Store cannot be read (it is not a Reader) or r is nil.
func (r *Recorder) Digests() *Digests {
	if r == nil {
		return nil
	}
	rd, ok := r.store.(Reader)
	if !ok {
		return nil
	}
	return &Digests{r: rd}
}

// Uptime is the history's report of service over [from, to).
func (d *Digests) Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error) {
	return d.r.Uptime(ctx, service, from, to, bucket)
}

// Digest summarises [from, to) for each of services, by name; a service
// with nothing recorded in the window is left out.
func (d *Digests) Digest(ctx context.Context, services []string, from, to time.Time) (alerts.Digest, error) {
	out := alerts.Digest{From: from, To: to, NoGiveUps: true}
	if !to.After(from) {
		return out, fmt.Errorf("digest: window %s to %s is empty", from, to)
	}
	names := slices.Clone(services)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, s := range names {
		sd, any, err := d.service(ctx, s, from, to)
		if err != nil {
			return out, fmt.Errorf("digest: %w", err)
		}
		if any {
			out.Services = append(out.Services, sd)
		}
	}
	return out, nil
}

// service is one service's digest, and whether anything was recorded.
func (d *Digests) service(ctx context.Context, service string, from, to time.Time) (alerts.ServiceDigest, bool, error) {
	sd := alerts.ServiceDigest{Service: service}
	rep, err := d.r.Uptime(ctx, service, from, to, to.Sub(from))
	if err != nil {
		return sd, false, err
	}
	sd.Known = rep.Healthy + rep.Unhealthy + rep.Stopped
	if rep.Known {
		sd.UptimePercent = 100 * rep.Uptime
	}
	for _, in := range rep.Incidents {
		end := in.FailedAt.Add(in.Duration)
		if in.Open() || in.ResolvedAt.After(to) {
			sd.OpenIncidents++
		}
		sd.Incidents++
		o := overlap(in.FailedAt, end, from, to)
		sd.Downtime += o
		sd.Longest = max(sd.Longest, o)
	}

	counts, err := d.r.ActionCounts(ctx, service, from, to)
	if err != nil {
		return sd, false, err
	}
	for _, c := range counts {
		sd.Actions = append(sd.Actions, alerts.ActionCount{Action: manager.Action(c.What), By: c.Who, Count: c.Count, Failed: c.Failed})
		if c.What == string(manager.ActionRestart) && c.Who == alerts.AutoRestartActor.String() {
			sd.AutoRestarts += c.Count
		}
	}
	slices.SortFunc(sd.Actions, func(a, b alerts.ActionCount) int {
		return cmp.Or(cmp.Compare(actionOrder(a.Action), actionOrder(b.Action)), cmp.Compare(a.Action, b.Action),
			cmp.Compare(b.Count, a.Count), cmp.Compare(a.By, b.By))
	})

	n, last, err := d.r.Restorations(ctx, service, from, to)
	if err != nil {
		return sd, false, err
	}
	if n > 0 {
		sd.Restorations = n
		sd.LastRestoration, sd.FailedSessions = summary(last)
	}
	return sd, rep.Checks > 0 || sd.Known > 0 || sd.Incidents > 0 || len(sd.Actions) > 0 || n > 0, nil
}

// summary is a recorded restoration as a completed summary: its counts,
// and the IDs of its failed sessions.
func summary(r history.Restoration) (*alerts.RestorationSummary, []string) {
	var failed []string
	for _, so := range r.Sessions {
		if so.Outcome == string(whatsapp.SessionFailedState) {
			failed = append(failed, so.Session)
		}
	}
	rs := whatsapp.Restoration{Found: r.Found, Restored: r.Restored, Failed: r.Failed, Complete: true, Total: -1}
	return &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: rs, Completed: true}}, failed
}

// actionOrder is the digest's order of actions: restarts, starts, stops,
// then the rest.
func actionOrder(a manager.Action) int {
	switch a {
	case manager.ActionRestart:
		return 0
	case manager.ActionStart:
		return 1
	case manager.ActionStop:
		return 2
	}
	return 3
}

// overlap is the length of [a, b] within [from, to].
func overlap(a, b, from, to time.Time) time.Duration {
	a, b = later(a, from), earlier(b, to)
	if !b.After(a) {
		return 0
	}
	return b.Sub(a)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
