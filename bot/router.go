package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Service is what the bot needs of one supervised service. *manager.Service
// implements it for a service on this host; a service on another host can
// implement it too.
type Service interface {
	Name() string
	Status(ctx context.Context) (manager.Status, error)
	Start(ctx context.Context, by manager.Actor, progress func(string)) (manager.StartResult, error)
	Stop(ctx context.Context, by manager.Actor, progress func(string)) (manager.StopResult, error)
	Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error)
	Logs(ctx context.Context, q manager.LogQuery) (manager.LogResult, error)
	// Output reads the service's captured stdout and stderr like Logs.
	Output(ctx context.Context, q manager.LogQuery) (manager.LogResult, error)
	Processes(ctx context.Context) ([]manager.Process, error)
	Sessions(ctx context.Context) (whatsapp.SessionsReport, error)
	// CleanupBrowsers ends the browsers of the sessions that serve nobody
	// (`sessions cleanup`); the service keeps running.
	CleanupBrowsers(ctx context.Context, by manager.Actor, progress func(string)) (manager.CleanupResult, error)
	Doctor(ctx context.Context) []doctor.Check
}

var _ Service = (*manager.Service)(nil)

// Directory finds services by name.
type Directory interface {
	Names() []string
	// Lookup returns the named service; "" means the only one.
	Lookup(name string) (Service, error)
}

// Authorizer decides whether a user may use the bot from a channel. The
// error, when not nil, is shown to the user: it must not leak internals.
type Authorizer interface {
	Authorize(ctx context.Context, user manager.Actor, channel string) error
}

// Alerts is what the router needs of the monitor, when one runs.
type Alerts interface {
	Acknowledge(ctx context.Context, service string, by manager.Actor) error
	Maintenance(ctx context.Context, service string, until time.Time, by manager.Actor, reason string) error
}

// Request is one thing an operator did: typed a command or clicked a button.
type Request struct {
	User    manager.Actor
	Channel string
	Source  string // "console", "slack"
	Text    string // the command line, for Handle
	// Progress, when set, receives the steps of a slow action ("stopping",
	// "starting", "healthy in 2.1s") so the front end can update its
	// message.
	Progress func(step string)
}

// Router runs commands: one parser, one set of rules, every front end.
type Router struct {
	dir      Directory
	auth     Authorizer
	confirms *ConfirmStore
	audit    zerolog.Logger
	now      func() time.Time
	dead     DeadLetters
	handlers map[Verb]handler
	alerts   Alerts // nil: no monitor runs
	history  History
	noHist   string
	// histMissing: a history should be kept but could not be opened
	// (RouterConfig.NoHistory was set); status and doctor say so.
	histMissing bool
	histTimeout time.Duration
	chart       ChartRenderer
	statusAllTO time.Duration
}

type handler func(ctx context.Context, req Request, cmd Command, svc Service) Reply

// RouterConfig holds the router's dependencies.
type RouterConfig struct {
	Services Directory
	Auth     Authorizer
	// Confirms keeps the confirmation tokens of stop and restart; the
	// monitor's Slack notifier issues alert tokens from the same store.
	Confirms *ConfirmStore
	// Alerts is the monitor, for ack and maintenance; nil when none runs.
	Alerts Alerts
	// Audit receives one JSON line per command, click and refusal.
	Audit zerolog.Logger
	Now   func() time.Time
	// DeadLetters, when set, is the outbox whose dead letters `status`
	// reports; nil where nothing is delivered (the console).
	DeadLetters DeadLetters
	// History answers `uptime` and `incidents`; nil where no history is
	// kept (the console, or a history that could not be opened), and then
	// NoHistory says why in one sentence safe to show ("" for the
	// default).
	History   History
	NoHistory string
	// HistoryTimeout bounds the status card's read of the history;
	// 0 means StatusHistoryTimeout.
	HistoryTimeout time.Duration
	// Chart draws the chart of `uptime`; nil: no chart.
	Chart ChartRenderer
	// StatusTimeout bounds each service's Status call of `status` with no
	// name; 0 means StatusAllTimeout.
	StatusTimeout time.Duration
}

// DeadLetters is what the status reply needs of the outbox.
type DeadLetters interface {
	Dead() []delivery.DeadItem
}

// NewRouter validates its dependencies and returns a router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Services == nil || cfg.Auth == nil || cfg.Confirms == nil {
		return nil, errors.New("new router: services, authorizer and confirmation store are required")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	r := &Router{dir: cfg.Services, auth: cfg.Auth, audit: cfg.Audit, now: now, dead: cfg.DeadLetters,
		confirms: cfg.Confirms, alerts: cfg.Alerts, history: cfg.History, noHist: cfg.NoHistory, chart: cfg.Chart}
	r.histMissing = cfg.History == nil && cfg.NoHistory != ""
	if r.noHist == "" {
		r.noHist = NoHistoryText
	}
	r.histTimeout = cfg.HistoryTimeout
	if r.histTimeout < 0 {
		return nil, errors.New("new router: history timeout must not be negative")
	}
	if r.histTimeout == 0 {
		r.histTimeout = StatusHistoryTimeout
	}
	r.statusAllTO = cfg.StatusTimeout
	if r.statusAllTO < 0 {
		return nil, errors.New("new router: status timeout must not be negative")
	}
	if r.statusAllTO == 0 {
		r.statusAllTO = StatusAllTimeout
	}
	r.handlers = map[Verb]handler{
		VerbStatus:   r.status,
		VerbStart:    r.start,
		VerbStop:     r.askConfirmation,
		VerbRestart:  r.askConfirmation,
		VerbLogs:     r.logs,
		VerbPS:       r.ps,
		VerbSessions: r.sessions,
		VerbDoctor:   r.doctor,
		VerbAck:      r.ack,
		VerbMaint:    r.maintenance,
		VerbUptime:   r.uptime,
		VerbIncident: r.incidents,
		VerbHosts:    func(ctx context.Context, _ Request, _ Command, _ Service) Reply { return r.hosts(ctx) },
	}
	return r, nil
}

func (r *Router) alertsOrNil() Alerts { return r.alerts }

func (r *Router) ack(ctx context.Context, req Request, _ Command, svc Service) Reply {
	a := r.alertsOrNil()
	if a == nil {
		return Reply{Kind: KindError, Text: "alerts are not running in this mode"}
	}
	if err := a.Acknowledge(ctx, svc.Name(), req.User); err != nil {
		return r.errorReply(err)
	}
	return Reply{Kind: KindDone, Text: fmt.Sprintf("%s acknowledged the alert on %s", req.User, svc.Name())}
}

// RecurringMaintenance is what `maintenance every|list|cancel` need of the
// monitor (*alerts.Monitor), when it can keep recurring windows, or of a
// hub, which keeps its own and asks its agents for theirs. Windows lists
// what it can; its error says what it could not (an agent offline),
// beside the list.
type RecurringMaintenance interface {
	AddWindow(ctx context.Context, service, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error)
	Windows(ctx context.Context) ([]alerts.WindowInfo, error)
	CancelWindow(ctx context.Context, id string, by manager.Actor) (alerts.RecurringWindow, error)
}

var _ RecurringMaintenance = (*alerts.Monitor)(nil)

// recurring runs `maintenance every|list|cancel`; svc is nil for list and
// cancel, which are about every service.
func (r *Router) recurring(ctx context.Context, req Request, cmd Command, svc Service) Reply {
	rm, ok := r.alertsOrNil().(RecurringMaintenance)
	if !ok {
		return Reply{Kind: KindError, Text: "alerts are not running in this mode"}
	}
	switch {
	case cmd.List:
		ws, err := rm.Windows(ctx)
		reply := Reply{Kind: KindWindows, Windows: ws, At: r.now()}
		if err != nil {
			// Beside the list: the hosts whose windows are not in it,
			// a line each.
			var notes []string
			for _, e := range joinedErrors(err) {
				notes = append(notes, WindowsNotListedText(usererr.Message(userError(e, "", r.now()))))
			}
			reply.Err, reply.Text = err, strings.Join(notes, "\n")
		}
		return reply
	case cmd.Cancel != "":
		w, err := rm.CancelWindow(ctx, cmd.Cancel, req.User)
		if err != nil {
			return r.errorReply(err)
		}
		return Reply{Kind: KindDone, Text: WindowCancelledText(w, req.User)}
	}
	w, err := rm.AddWindow(ctx, svc.Name(), cmd.Every, cmd.Window, req.User, cmd.Reason)
	if err != nil {
		return r.errorReply(err)
	}
	return Reply{Kind: KindDone, Text: WindowAddedText(w, svc.Name())}
}

// joinedErrors is the errors err joins (errors.Join), or err alone.
func joinedErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (r *Router) maintenance(ctx context.Context, req Request, cmd Command, svc Service) Reply {
	if cmd.List || cmd.Cancel != "" || cmd.Every != "" {
		return r.recurring(ctx, req, cmd, svc)
	}
	a := r.alertsOrNil()
	if a == nil {
		return Reply{Kind: KindError, Text: "alerts are not running in this mode"}
	}
	var until time.Time
	if !cmd.Off {
		until = r.now().Add(cmd.Window)
	}
	if err := a.Maintenance(ctx, svc.Name(), until, req.User, cmd.Reason); err != nil {
		return r.errorReply(err)
	}
	if cmd.Off {
		return Reply{Kind: KindDone, Text: fmt.Sprintf("maintenance of %s ended by %s", svc.Name(), req.User)}
	}
	return Reply{Kind: KindDone, Text: fmt.Sprintf("%s: alerts muted until %s by %s", svc.Name(), until.Format("15:04"), req.User)}
}

// Confirmations exposes the token store, so a front end can expire prompts.
func (r *Router) Confirmations() *ConfirmStore { return r.confirms }

// Handle parses and runs one command line.
func (r *Router) Handle(ctx context.Context, req Request) Reply {
	began := time.Now()
	if err := r.auth.Authorize(ctx, req.User, req.Channel); err != nil {
		reply := Reply{Kind: KindRefused, Text: refusalText(err), Err: err}
		r.record(req, "command", human.Cut(req.Text, 200), "", "refused", began, err)
		return reply
	}
	cmd, err := Parse(req.Text, r.dir.Names())
	if err != nil {
		r.record(req, "command", human.Cut(req.Text, 200), "", "usage", began, err)
		return Reply{Kind: KindUsage, Text: err.Error()}
	}
	if cmd.Verb == VerbHelp {
		r.record(req, "command", cmd.String(), "", "ok", began, nil)
		_, fleet := r.dir.(HostLister)
		return Reply{Kind: KindHelp, Help: helpFor(cmd.Topic, fleet), HelpTopic: cmd.Topic}
	}
	if cmd.Verb == VerbMaint && (cmd.List || cmd.Cancel != "") {
		// About every service's windows: no service to look up.
		reply := r.recurring(ctx, req, cmd, nil)
		r.record(req, "command", cmd.String(), "", reply.outcome(), began, reply.Err)
		return reply
	}
	if cmd.Verb == VerbHosts {
		reply := r.hosts(ctx)
		r.record(req, "command", cmd.String(), "", reply.outcome(), began, reply.Err)
		return reply
	}
	if names := r.dir.Names(); cmd.Verb == VerbStatus && cmd.Service == "" && len(names) > 1 {
		// Every service, one line each: in a fleet, every host's.
		reply := r.statusAll(ctx, names)
		r.record(req, "command", cmd.String(), "", reply.outcome(), began, reply.Err)
		return reply
	}
	svc, err := r.dir.Lookup(cmd.Service)
	if err != nil {
		err = lookupError(err, cmd.Service, r.dir.Names(), r.now())
		r.record(req, "command", cmd.String(), cmd.Service, "usage", began, err)
		return Reply{Kind: KindUsage, Text: usererr.Message(err), Err: err}
	}
	reply := r.handlers[cmd.Verb](ctx, req, cmd, svc)
	reply.Service = svc.Name()
	r.record(req, "command", cmd.String(), svc.Name(), reply.outcome(), began, reply.Err)
	return reply
}

// Confirm runs the action behind token, if the clicker may. A click that
// does nothing is a KindRejected reply whose Err says why (ErrTokenUsed,
// ErrTokenExpired ...) and whose Confirm says what the token was for, when
// the store knows it.
func (r *Router) Confirm(ctx context.Context, req Request, token string) Reply {
	began := time.Now()
	if err := r.auth.Authorize(ctx, req.User, req.Channel); err != nil {
		r.record(req, "confirm", "", "", "refused", began, err)
		return Reply{Kind: KindRefused, Text: refusalText(err), Err: err}
	}
	p, err := r.confirms.Take(token, req.User)
	if err != nil {
		r.record(req, "confirm", p.Command.String(), p.Service, "rejected", began, err)
		return rejectedReply(p, err)
	}
	reply, begun := r.run(ctx, req, p.Command, p.Service)
	if !begun && p.AlertID != "" {
		// The click did nothing (busy, refused, preconditions failed):
		// the alert's button must still work once it can.
		if err := r.confirms.Restore(token); err != nil {
			r.audit.Warn().Err(err).Str("service", p.Service).Str("alert", p.AlertID).
				Msg("an alert's Restart token stays used although its action could not begin")
		}
	}
	r.record(req, "confirm", p.Command.String(), p.Service, reply.outcome(), began, reply.Err)
	return reply
}

// Cancel withdraws the action behind token.
func (r *Router) Cancel(ctx context.Context, req Request, token string) Reply {
	began := time.Now()
	if err := r.auth.Authorize(ctx, req.User, req.Channel); err != nil {
		r.record(req, "cancel", "", "", "refused", began, err)
		return Reply{Kind: KindRefused, Text: refusalText(err), Err: err}
	}
	p, err := r.confirms.Cancel(token, req.User)
	if err != nil {
		r.record(req, "cancel", p.Command.String(), p.Service, "rejected", began, err)
		return rejectedReply(p, err)
	}
	r.record(req, "cancel", p.Command.String(), p.Service, "cancelled", began, nil)
	return Reply{Kind: KindCancelled, Service: p.Service,
		Text: fmt.Sprintf("%s %s cancelled by %s; nothing was done", p.Command.Action(), p.Service, req.User)}
}

// run executes a confirmed stop, restart or sessions cleanup. begun
// reports whether the action changed anything (see begun).
func (r *Router) run(ctx context.Context, req Request, cmd Command, name string) (reply Reply, started bool) {
	svc, err := r.dir.Lookup(name)
	if err != nil {
		err = lookupError(err, name, r.dir.Names(), r.now())
		return Reply{Kind: KindError, Text: usererr.Message(err), Err: err, Service: name}, false
	}
	out := &Outcome{Action: manager.Action(cmd.Verb), Service: name, By: req.User}
	began := time.Now()
	switch {
	case cmd.Verb == VerbStop:
		res, err := svc.Stop(ctx, req.User, req.Progress)
		out.Stop, out.Err = &res, err
	case cmd.Verb == VerbRestart:
		res, err := svc.Restart(ctx, req.User, req.Progress)
		out.Stop, out.Start, out.Err = &res.Stop, &res.Start, err
	case cmd.Verb == VerbSessions && cmd.Cleanup:
		out.Action = manager.ActionCleanup
		res, err := svc.CleanupBrowsers(ctx, req.User, req.Progress)
		out.Cleanup, out.Err = &res, err
	default:
		return Reply{Kind: KindError, Text: "nothing to confirm for " + cmd.Action(), Service: name}, false
	}
	out.Took = time.Since(began)
	return r.outcomeReply(out), begun(out)
}

// begun reports whether an action changed anything: a process was
// signalled or started, a stale lock removed. An action refused (another
// one runs, the service already is as asked, a precondition failed) or
// that failed before its first step did not begin.
func begun(o *Outcome) bool {
	if st := o.Stop; st != nil && (st.WasRunning || len(st.Stopped) > 0 || len(st.Leftovers) > 0) {
		return true
	}
	if s := o.Start; s != nil && (s.PID > 0 || len(s.LeftoversEnded) > 0 || len(s.LocksRemoved) > 0) {
		return true
	}
	if c := o.Cleanup; c != nil && (len(c.Ended) > 0 || len(c.Survivors) > 0) {
		return true
	}
	return false
}

func (r *Router) askConfirmation(ctx context.Context, req Request, cmd Command, svc Service) Reply {
	if b := busyOf(svc); b != nil {
		return Reply{Kind: KindBusy, Text: b.Error(), Err: b}
	}
	// A stop of a service known to be stopped (nothing of it runs, not
	// even a leftover) asks nothing and does nothing.
	if cmd.Verb == VerbStop && knownStopped(ctx, svc) {
		err := manager.AlreadyStopped(svc.Name())
		return Reply{Kind: KindDone, Text: usererr.Message(err), Err: err}
	}
	var plan *CleanupPlan
	if cmd.Verb == VerbSessions && cmd.Cleanup {
		// Say what it will end; with nothing to end, ask nothing. When
		// the sessions cannot be read, ask anyway: the cleanup itself
		// refuses when there is nothing to do.
		if rep, err := svc.Sessions(ctx); err == nil {
			idle := rep.IdleBrowsers()
			if len(idle) == 0 {
				return Reply{Kind: KindDone, Text: NothingToCleanUp(svc.Name())}
			}
			plan = &CleanupPlan{Browsers: idle, Whose: idleWhose(&rep)}
		}
	}
	p := r.confirms.Issue(cmd, svc.Name(), req.User.ID, req.Channel)
	p.Cleanup = plan
	return Reply{Kind: KindConfirm, Confirm: &p}
}

// knownStopped reports whether the service is known to be stopped, when it
// can tell: a stop would do nothing.
func knownStopped(ctx context.Context, svc Service) bool {
	if s, ok := svc.(interface {
		Stopped(ctx context.Context) (bool, error)
	}); ok {
		stopped, err := s.Stopped(ctx)
		return err == nil && stopped
	}
	return false
}

// busyOf reports an action in progress, when the service can tell.
func busyOf(svc Service) *manager.BusyError {
	if b, ok := svc.(interface{ Busy() *manager.BusyError }); ok {
		return b.Busy()
	}
	return nil
}

func (r *Router) start(ctx context.Context, req Request, _ Command, svc Service) Reply {
	began := time.Now()
	res, err := svc.Start(ctx, req.User, req.Progress)
	return r.outcomeReply(&Outcome{Action: manager.ActionStart, Service: svc.Name(), By: req.User,
		Start: &res, Err: err, Took: time.Since(began)})
}

func (r *Router) status(ctx context.Context, _ Request, _ Command, svc Service) Reply {
	// The history is read while the service is asked, within its own
	// short deadline.
	card := r.historyCard(ctx, svc.Name())
	st, err := svc.Status(ctx)
	if err != nil {
		card()
		return r.errorReply(err)
	}
	if name := svc.Name(); strings.HasSuffix(name, "/"+st.Service) {
		// A service of a fleet's host: the card and its buttons name
		// it by its address, which the router resolves.
		st.Service = name
	}
	reply := Reply{Kind: KindStatus, Status: &st, At: r.now(), History: card()}
	if m, ok := r.alertsOrNil().(MaintenanceReporter); ok {
		if w, on := m.MaintenanceWindow(svc.Name()); on {
			reply.Maintenance = &w
		}
	}
	reply.Undelivered = undelivered(r.dead)
	return reply
}

// undelivered sums up the outbox's dead letters; nil when there are none.
func undelivered(d DeadLetters) *Undelivered {
	if d == nil {
		return nil
	}
	dead := d.Dead()
	if len(dead) == 0 {
		return nil
	}
	u := &Undelivered{Count: len(dead)}
	for _, it := range dead {
		if it.Code != "" && !slices.Contains(u.Codes, it.Code) {
			u.Codes = append(u.Codes, it.Code)
		}
	}
	slices.Sort(u.Codes)
	return u
}

// MaintenanceReporter is what the status reply needs of the alerts, when
// they can tell: the service's maintenance window in force, if any.
type MaintenanceReporter interface {
	MaintenanceWindow(service string) (MaintenanceWindow, bool)
}

func (r *Router) logs(ctx context.Context, _ Request, cmd Command, svc Service) Reply {
	q := manager.LogQuery{Lines: cmd.Lines, Filter: cmd.Filter, IncludeHealth: cmd.All}
	read := svc.Logs
	if cmd.Output {
		read = svc.Output
	}
	res, err := read(ctx, q)
	if err != nil {
		return r.errorReply(err)
	}
	return Reply{Kind: KindLogs, Logs: &res, LogQuery: q}
}

func (r *Router) ps(ctx context.Context, _ Request, _ Command, svc Service) Reply {
	procs, err := svc.Processes(ctx)
	if err != nil {
		return r.errorReply(err)
	}
	return Reply{Kind: KindProcesses, Processes: procs, At: r.now()}
}

func (r *Router) sessions(ctx context.Context, req Request, cmd Command, svc Service) Reply {
	if cmd.Cleanup {
		return r.askConfirmation(ctx, req, cmd, svc)
	}
	rep, err := svc.Sessions(ctx)
	if err != nil {
		return r.errorReply(err)
	}
	return Reply{Kind: KindSessions, Sessions: &rep, At: r.now()}
}

func (r *Router) doctor(ctx context.Context, _ Request, _ Command, svc Service) Reply {
	checks := svc.Doctor(ctx)
	if c, ok := r.historyCheck(); ok {
		checks = append(checks, c)
	}
	return Reply{Kind: KindDoctor, Checks: checks}
}

// errorReply shows only the safe part of err (usererr.Message, or the
// bot's sentence for a manager error it knows); the raw error is Err, for
// the audit line.
func (r *Router) errorReply(err error) Reply {
	err = userError(err, "", r.now())
	return Reply{Kind: KindError, Text: usererr.Message(err), Err: err}
}

// outcomeReply is the reply of an action that ran. Its error becomes one
// whose message is safe to show (OutcomeDetail shows only that); a busy
// service is a busy reply.
func (r *Router) outcomeReply(o *Outcome) Reply {
	o.Err = outcomeError(o, r.now())
	var busy *manager.BusyError
	if errors.As(o.Err, &busy) {
		return Reply{Kind: KindBusy, Text: usererr.Message(o.Err), Err: o.Err}
	}
	return Reply{Kind: KindOutcome, Outcome: o, Err: o.Err}
}

// rejectedReply is a confirmation click that did nothing: why, and what
// the token was for when known.
func rejectedReply(p Pending, err error) Reply {
	reply := Reply{Kind: KindRejected, Text: usererr.Message(err), Err: err, Service: p.Service}
	if p.Command.Verb != "" {
		reply.Confirm = &p
	}
	return reply
}

// record writes the audit line of one command, click or refusal.
func (r *Router) record(req Request, what, command, service, outcome string, began time.Time, err error) {
	ev := r.audit.Info()
	if err != nil && outcome != "ok" {
		ev = r.audit.Warn()
	}
	ev = ev.Bool("audit", true).Str("source", req.Source).Str("kind", what).
		Str("user_id", req.User.ID).Str("user_name", req.User.Name).Str("channel", req.Channel).
		Str("command", command).Str("service", service).Str("outcome", outcome).
		Int64("duration_ms", time.Since(began).Milliseconds())
	if err != nil {
		// The raw error, with its internals: for the log only.
		ev = ev.Str("error", human.Cut(strings.TrimSpace(err.Error()), 300)).Str("error_code", string(usererr.CodeOf(err)))
	}
	ev.Msg("audit")
}

// helpFor lists every command, or one. The list names `hosts` only in a
// fleet (a Directory that is a HostLister): one host's help is as it was.
func helpFor(topic Verb, fleet bool) []HelpLine {
	var out []HelpLine
	for _, s := range commandSpecs {
		if topic == "" && s.verb == VerbHosts && !fleet {
			continue
		}
		if topic == "" || s.verb == topic {
			out = append(out, HelpLine{Usage: s.usage, Text: s.help})
		}
	}
	return out
}
