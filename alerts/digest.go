package alerts

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// historyKeep is how much a History remembers: two digests' worth, so a
// digest sent late still sees its whole day.
const historyKeep = 48 * time.Hour

// digestWindow is the span of a digest.
const digestWindow = 24 * time.Hour

// History records what the monitor saw, for the daily digest: health checks,
// incidents, actions and restorations. It keeps the last 48 h (older records
// are dropped on every record) and is safe for concurrent use.
//
// Uptime is time-weighted: the state of a health check holds until the next
// check of the service (or until now for the latest one). A gap between two
// checks longer than 3 times the check interval means the monitor was not
// looking (the bot was down, the machine asleep): that span counts as
// unknown, neither up nor down, and the uptime percentage is the healthy
// share of the known time only.
type History struct {
	now    func() time.Time
	maxGap time.Duration // 0: no gap is too long

	mu           sync.Mutex
	checks       map[string][]historyCheck
	incidents    map[historyIncidentKey]*historyIncident
	actions      []historyAction
	autoRestarts []historyEvent
	giveUps      []historyEvent
	restorations []historyRestoration
}

type historyCheck struct {
	at      time.Time
	healthy bool
}

type historyIncidentKey struct {
	service string
	id      int
}

type historyIncident struct {
	since, resolved time.Time // resolved is zero while open
	by              *manager.Actor
}

type historyAction struct {
	at      time.Time
	service string
	action  manager.Action
	by      string
	ok      bool
}

type historyEvent struct {
	at      time.Time
	service string
}

type historyRestoration struct {
	at      time.Time
	service string
	summary RestorationSummary
	failed  []string
}

// NewHistory returns an empty history. now is the clock (pruning, and the
// end of the latest check's span); interval is the monitor's health-check
// interval: a gap of more than 3 intervals between checks counts as unknown
// (0 turns that off).
func NewHistory(now func() time.Time, interval time.Duration) *History {
	if now == nil {
		now = time.Now
	}
	return &History{now: now, maxGap: 3 * interval, checks: map[string][]historyCheck{},
		incidents: map[historyIncidentKey]*historyIncident{}}
}

// Check records one health check of service.
func (h *History) Check(service string, at time.Time, healthy bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.checks[service]
	// Checks arrive in order; an immediate check racing a poll may not.
	i := sort.Search(len(cs), func(i int) bool { return cs[i].at.After(at) })
	cs = append(cs, historyCheck{})
	copy(cs[i+1:], cs[i:])
	cs[i] = historyCheck{at: at, healthy: healthy}
	h.checks[service] = cs
	h.prune()
}

// Decision records a decision of a service's tracker: the incident it
// carries (opened, resolved with its duration and resolver), auto-restarts
// and give-ups.
func (h *History) Decision(at time.Time, d Decision) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := d.Incident
	if inc.ID > 0 {
		k := historyIncidentKey{inc.Service, inc.ID}
		r := h.incidents[k]
		if r == nil {
			r = &historyIncident{since: inc.Since}
			if r.since.IsZero() {
				r.since = at
			}
			h.incidents[k] = r
		}
		if !inc.Open {
			r.resolved = inc.ResolvedAt
			if r.resolved.IsZero() {
				r.resolved = at
			}
			if inc.ResolvedBy != nil {
				by := *inc.ResolvedBy
				r.by = &by
			}
		}
	}
	switch d.Kind {
	case DecisionAutoRestart:
		h.autoRestarts = append(h.autoRestarts, historyEvent{at, inc.Service})
	case DecisionGiveUp:
		h.giveUps = append(h.giveUps, historyEvent{at, inc.Service})
	}
	h.prune()
}

// Action records the end of a start, stop or restart of service and who did
// it.
func (h *History) Action(at time.Time, service string, a manager.Action, by manager.Actor, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.actions = append(h.actions, historyAction{at: at, service: service, action: a, by: by.String(), ok: ok})
	h.prune()
}

// Restoration records the restoration summary of a start of service. A late
// follow-up (s.Late) replaces the service's latest summary.
func (h *History) Restoration(at time.Time, service string, s *RestorationSummary) {
	if s == nil {
		return
	}
	var failed []string
	for _, o := range s.Result.Restoration.FailedSessions() {
		failed = append(failed, o.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := historyRestoration{at: at, service: service, summary: *s, failed: failed}
	if s.Late {
		// The same start's restoration, completed: it replaces the
		// summary that timed out rather than counting twice.
		for i := len(h.restorations) - 1; i >= 0; i-- {
			if h.restorations[i].service == service {
				h.restorations[i].summary, h.restorations[i].failed = r.summary, r.failed
				return
			}
		}
	}
	h.restorations = append(h.restorations, r)
	h.prune()
}

// prune drops what is older than historyKeep. It keeps the latest check
// before the cut when its span reaches into the kept time. h.mu is held.
func (h *History) prune() {
	cut := h.now().Add(-historyKeep)
	for s, cs := range h.checks {
		i := sort.Search(len(cs), func(i int) bool { return !cs[i].at.Before(cut) })
		if i > 0 && i < len(cs) && (h.maxGap == 0 || cs[i].at.Sub(cs[i-1].at) <= h.maxGap) {
			i--
		}
		switch {
		case i == len(cs):
			delete(h.checks, s)
		case i > 0:
			h.checks[s] = append(cs[:0], cs[i:]...)
		}
	}
	for k, r := range h.incidents {
		if !r.resolved.IsZero() && r.resolved.Before(cut) {
			delete(h.incidents, k)
		}
	}
	h.actions = historyPrune(h.actions, cut, func(a historyAction) time.Time { return a.at })
	h.autoRestarts = historyPrune(h.autoRestarts, cut, func(e historyEvent) time.Time { return e.at })
	h.giveUps = historyPrune(h.giveUps, cut, func(e historyEvent) time.Time { return e.at })
	h.restorations = historyPrune(h.restorations, cut, func(r historyRestoration) time.Time { return r.at })
}

func historyPrune[T any](xs []T, cut time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(xs) && at(xs[i]).Before(cut) {
		i++
	}
	if i == 0 {
		return xs
	}
	return append(xs[:0], xs[i:]...)
}

// DigestSource summarises the services' history over [from, to] for a
// digest: the history database, which outlives the bot (MonitorConfig.
// DigestSource). services are the services under watch; a service with
// nothing recorded in the window may be left out. The source does not know
// IdleBrowsers (the monitor adds them) nor, when it says so with
// NoGiveUps, the give-ups.
type DigestSource interface {
	Digest(ctx context.Context, services []string, from, to time.Time) (Digest, error)
}

// Digest is the summary of a window (24 h for the daily digest, 7 days for
// the weekly one) that ends at To.
type Digest struct {
	From, To time.Time
	Services []ServiceDigest // by name
	// NoGiveUps is set by a DigestSource that does not record give-ups:
	// the monitor then counts them from what it saw since it started.
	NoGiveUps bool `json:",omitempty"`
}

// ServiceDigest is one service's day.
type ServiceDigest struct {
	Service string
	// UptimePercent is the healthy share of Known; 0 when Known is 0.
	UptimePercent float64
	// Known is the part of the window covered by health checks (see History).
	Known time.Duration
	// Incidents counts the incidents that overlap the window; Downtime is
	// their total time within the window, Longest the longest of them
	// (within the window too). OpenIncidents counts those still open at To.
	Incidents     int
	OpenIncidents int
	Downtime      time.Duration
	Longest       time.Duration
	// Actions are the starts, stops and restarts by action and person.
	Actions      []ActionCount
	AutoRestarts int // auto-restarts the tracker asked for
	GiveUps      int // times auto-restart gave up
	Restorations int
	// LastRestoration is the latest restoration in the window; nil when
	// there was none.
	LastRestoration *RestorationSummary
	// FailedSessions are the failed sessions of the latest restoration.
	FailedSessions []string
	// IdleBrowsers are the browsers running at digest time for sessions
	// that serve nobody (failed, interrupted, logged out, unlisted: the
	// SessionView.Idle ones), by session ID; whatsapp.RSS sums them. They
	// come from a Status of the service at digest time joined with its
	// latest restoration; nil when none runs or none could be seen.
	IdleBrowsers []whatsapp.Browser
}

// ActionCount is how many times By did Action; Failed of them did not
// succeed.
type ActionCount struct {
	Action manager.Action
	By     string
	Count  int
	Failed int
}

// Digest summarises the 24 h before to.
func (h *History) Digest(to time.Time) Digest {
	return h.DigestWindow(to.Add(-digestWindow), to)
}

// DigestWindow summarises [from, to]: what the history still holds of it
// (the last 48 h).
func (h *History) DigestWindow(from, to time.Time) Digest {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	in := func(t time.Time) bool { return !t.Before(from) && !t.After(to) }
	byName := map[string]*ServiceDigest{}
	get := func(s string) *ServiceDigest {
		if byName[s] == nil {
			byName[s] = &ServiceDigest{Service: s}
		}
		return byName[s]
	}

	for s, cs := range h.checks {
		var known, up time.Duration
		for i, c := range cs {
			end := now
			if i+1 < len(cs) {
				end = cs[i+1].at
			}
			if end.Before(c.at) || (h.maxGap > 0 && end.Sub(c.at) > h.maxGap) {
				continue // unknown
			}
			d := historyOverlap(c.at, end, from, to)
			known += d
			if c.healthy {
				up += d
			}
		}
		if known == 0 && !historyAnyIn(cs, in) {
			continue
		}
		sd := get(s)
		sd.Known = known
		if known > 0 {
			sd.UptimePercent = 100 * float64(up) / float64(known)
		}
	}
	for k, r := range h.incidents {
		end := r.resolved
		if end.IsZero() || end.After(to) {
			end = to
		}
		if r.since.After(to) || end.Before(from) {
			continue
		}
		sd := get(k.service)
		sd.Incidents++
		if r.resolved.IsZero() || r.resolved.After(to) {
			sd.OpenIncidents++
		}
		d := historyOverlap(r.since, end, from, to)
		sd.Downtime += d
		sd.Longest = max(sd.Longest, d)
	}
	counts := map[string]map[[2]string]*ActionCount{}
	for _, a := range h.actions {
		if !in(a.at) {
			continue
		}
		get(a.service)
		if counts[a.service] == nil {
			counts[a.service] = map[[2]string]*ActionCount{}
		}
		k := [2]string{string(a.action), a.by}
		c := counts[a.service][k]
		if c == nil {
			c = &ActionCount{Action: a.action, By: a.by}
			counts[a.service][k] = c
		}
		c.Count++
		if !a.ok {
			c.Failed++
		}
	}
	for s, cs := range counts {
		sd := get(s)
		for _, c := range cs {
			sd.Actions = append(sd.Actions, *c)
		}
		sort.Slice(sd.Actions, func(i, j int) bool {
			a, b := sd.Actions[i], sd.Actions[j]
			if a.Action != b.Action {
				return digestActionOrder(a.Action) < digestActionOrder(b.Action)
			}
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return a.By < b.By
		})
	}
	for _, e := range h.autoRestarts {
		if in(e.at) {
			get(e.service).AutoRestarts++
		}
	}
	for _, e := range h.giveUps {
		if in(e.at) {
			get(e.service).GiveUps++
		}
	}
	for _, r := range h.restorations { // in time order
		if !in(r.at) {
			continue
		}
		sd := get(r.service)
		sd.Restorations++
		last := r.summary
		sd.LastRestoration = &last
		sd.FailedSessions = append([]string(nil), r.failed...)
	}

	d := Digest{From: from, To: to}
	for _, sd := range byName {
		d.Services = append(d.Services, *sd)
	}
	sort.Slice(d.Services, func(i, j int) bool { return d.Services[i].Service < d.Services[j].Service })
	return d
}

// historyOverlap is the length of [a, b] within [from, to].
func historyOverlap(a, b, from, to time.Time) time.Duration {
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	if !b.After(a) {
		return 0
	}
	return b.Sub(a)
}

func historyAnyIn(cs []historyCheck, in func(time.Time) bool) bool {
	for _, c := range cs {
		if in(c.at) {
			return true
		}
	}
	return false
}

func digestActionOrder(a manager.Action) int {
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

// digestParse parses MonitorConfig.DigestAt: "HH:MM", 24-hour.
func digestParse(at string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", at)
	if err != nil || len(at) != 5 {
		return 0, 0, fmt.Errorf("digest time %q is not HH:MM", at)
	}
	return t.Hour(), t.Minute(), nil
}

// scheduleDigest adds the daily digest job when DigestAt is set. The cron
// runs in the scheduler's location (time.Local).
func (m *Monitor) scheduleDigest(ctx context.Context, sched gocron.Scheduler) error {
	if m.cfg.DigestAt == "" {
		return nil
	}
	hour, minute, err := digestParse(m.cfg.DigestAt)
	if err != nil {
		return err
	}
	_, err = sched.NewJob(gocron.CronJob(fmt.Sprintf("%d %d * * *", minute, hour), false),
		gocron.NewTask(func() { m.sendDigest(ctx) }), gocron.WithName("digest"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule))
	return err
}

// digestTimeout bounds a DigestSource's answer: a slow database delays a
// digest by that much at most.
const digestTimeout = 30 * time.Second

// sendDigest posts the digest of the 24 h before now, to the minute (a job
// that fires a moment late still covers 09:00 – 09:00), with the browsers
// of sessions that serve nobody still running now.
func (m *Monitor) sendDigest(ctx context.Context) {
	to := m.clock.Now().Truncate(time.Minute)
	d := m.digest(ctx, to.Add(-digestWindow), to)
	m.addIdleBrowsers(ctx, &d)
	if ctx.Err() != nil {
		return
	}
	n := Notice{ID: "digest-" + to.Format("2006-01-02"), Kind: KindDigest,
		Event: Event{What: EventDigest, At: to}, Digest: &d}
	if err := m.notifier.Notify(n); err != nil {
		m.log.Error().Err(err).Str("notice", n.ID).Msg("notify digest")
	}
}

// digest summarises [from, to]: from the DigestSource when there is one,
// else (or when it fails, logged) from what the monitor remembers since it
// started (the last 48 h at most).
func (m *Monitor) digest(ctx context.Context, from, to time.Time) Digest {
	mem := m.history.DigestWindow(from, to)
	if m.cfg.DigestSource == nil {
		return mem
	}
	sctx, cancel := context.WithTimeout(ctx, digestTimeout)
	defer cancel()
	d, err := m.cfg.DigestSource.Digest(sctx, m.serviceNames(), from, to)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error().Err(err).Msg("digest from the history: using what the bot saw since it started instead")
		}
		return mem
	}
	if d.NoGiveUps {
		for _, s := range mem.Services {
			if s.GiveUps == 0 {
				continue
			}
			i, found := sort.Find(len(d.Services), func(i int) int { return strings.Compare(s.Service, d.Services[i].Service) })
			if !found {
				d.Services = slices.Insert(d.Services, i, ServiceDigest{Service: s.Service})
			}
			d.Services[i].GiveUps = s.GiveUps
		}
		d.NoGiveUps = false
	}
	return d
}

// serviceNames are the names of the services under watch.
func (m *Monitor) serviceNames() []string {
	names := make([]string, 0, len(m.watched))
	for _, w := range m.watched {
		names = append(names, w.svc.Name())
	}
	return names
}

// addIdleBrowsers fills each service's IdleBrowsers in d (adding the
// service when the history has nothing else about it).
func (m *Monitor) addIdleBrowsers(ctx context.Context, d *Digest) {
	for _, w := range m.watched {
		idle := m.idleBrowsers(ctx, w)
		if len(idle) == 0 {
			continue
		}
		name := w.svc.Name()
		i, found := sort.Find(len(d.Services), func(i int) int { return strings.Compare(name, d.Services[i].Service) })
		if !found {
			d.Services = slices.Insert(d.Services, i, ServiceDigest{Service: name})
		}
		d.Services[i].IdleBrowsers = idle
	}
}

// idleBrowsers returns the browsers running now for sessions that serve
// nobody: the service's Status (its browsers and the latest restoration in
// its log) joined with its auth dirs and the auth snapshot of the bot's
// latest start. None when the Status cannot be had (logged).
func (m *Monitor) idleBrowsers(ctx context.Context, w *watched) []whatsapp.Browser {
	st, running := m.status(ctx, w)
	if len(st.Browsers) == 0 {
		return nil
	}
	in := whatsapp.SessionsInput{Browsers: st.Browsers, Dirs: m.authDirs(w), Running: running}
	if st.Restoration != nil {
		in.Restoration, in.HaveRestoration = *st.Restoration, true
	}
	w.mu.Lock()
	if w.lastBefore != nil {
		in.Before = *w.lastBefore
	}
	w.mu.Unlock()
	return whatsapp.JoinSessions(in).IdleBrowsers()
}
