// Package hub is the hub's view of every host's services: a Remote is one
// service of another host's agent, reached over NATS with requests the hub
// signs; a Directory names every service of the fleet "host/service".
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Signer signs the hub's requests (*sign.Signer).
type Signer interface {
	Sign(sign.Request) (sign.Signed, error)
}

var _ bot.Service = (*Remote)(nil)

// client is what every Remote of a Directory shares.
type client struct {
	hub           string // this hub's host: reads are signed by "hub:<host>"
	now           func() time.Time
	conn          *nats.Conn
	signer        Signer
	timeout       time.Duration
	actionTimeout time.Duration
	lastSeen      func(host string) time.Time
	log           zerolog.Logger
}

// Remote is one service of another host, served by that host's agent. It
// implements bot.Service; its Name is "host/service".
type Remote struct {
	c       *client
	host    string
	service string
}

// Name is the service's address in the fleet: "web-2/whatsapp"; the
// host's name for a request about the host itself (hostClient).
func (r *Remote) Name() string {
	if r.service == "" {
		return r.host
	}
	return r.host + "/" + r.service
}

// Host is the host the service runs on.
func (r *Remote) Host() string { return r.host }

// Service is the service's name on its host.
func (r *Remote) Service() string { return r.service }

func (r *Remote) Status(ctx context.Context) (manager.Status, error) {
	rep, err := r.read(ctx, agent.VerbStatus, nil)
	if err != nil {
		return manager.Status{}, err
	}
	if rep.Status == nil {
		return manager.Status{}, r.badReply(agent.VerbStatus)
	}
	return *rep.Status, nil
}

// Stopped reports whether the service is stopped, as its status says (the
// router asks before it asks for a confirmation of a stop).
func (r *Remote) Stopped(ctx context.Context) (bool, error) {
	st, err := r.Status(ctx)
	if err != nil {
		return false, err
	}
	return st.State == manager.StateStopped && len(st.Processes) == 0, nil
}

func (r *Remote) Logs(ctx context.Context, q manager.LogQuery) (manager.LogResult, error) {
	return r.logs(ctx, agent.VerbLogs, q)
}

func (r *Remote) Output(ctx context.Context, q manager.LogQuery) (manager.LogResult, error) {
	return r.logs(ctx, agent.VerbOutput, q)
}

func (r *Remote) logs(ctx context.Context, verb string, q manager.LogQuery) (manager.LogResult, error) {
	if err := q.Validate(); err != nil {
		return manager.LogResult{}, usererr.Wrap(err, usererr.Invalid, "%s", err.Error())
	}
	rep, err := r.read(ctx, verb, agent.LogArgs(q))
	if err != nil {
		return manager.LogResult{}, err
	}
	if rep.Logs == nil {
		return manager.LogResult{}, r.badReply(verb)
	}
	return *rep.Logs, nil
}

func (r *Remote) Processes(ctx context.Context) ([]manager.Process, error) {
	rep, err := r.read(ctx, agent.VerbPS, nil)
	if err != nil {
		return nil, err
	}
	return rep.Processes, nil
}

func (r *Remote) Sessions(ctx context.Context) (whatsapp.SessionsReport, error) {
	rep, err := r.read(ctx, agent.VerbSessions, nil)
	if err != nil {
		return whatsapp.SessionsReport{}, err
	}
	if rep.Sessions == nil {
		return whatsapp.SessionsReport{}, r.badReply(agent.VerbSessions)
	}
	return *rep.Sessions, nil
}

// Doctor returns the agent's checks; when the agent cannot be asked, one
// failed check that says why.
func (r *Remote) Doctor(ctx context.Context) []doctor.Check {
	rep, err := r.read(ctx, agent.VerbDoctor, nil)
	if err != nil {
		return []doctor.Check{{Name: "agent " + r.host, Verdict: doctor.VerdictFail, Detail: r.errorText(err)}}
	}
	return rep.Checks
}

func (r *Remote) Start(ctx context.Context, by manager.Actor, progress func(string)) (manager.StartResult, error) {
	var res manager.StartResult
	err := r.act(ctx, agent.VerbStart, by, progress, &res)
	return res, err
}

func (r *Remote) Stop(ctx context.Context, by manager.Actor, progress func(string)) (manager.StopResult, error) {
	var res manager.StopResult
	err := r.act(ctx, agent.VerbStop, by, progress, &res)
	return res, err
}

func (r *Remote) Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error) {
	var res manager.RestartResult
	err := r.act(ctx, agent.VerbRestart, by, progress, &res)
	return res, err
}

func (r *Remote) CleanupBrowsers(ctx context.Context, by manager.Actor, progress func(string)) (manager.CleanupResult, error) {
	var res manager.CleanupResult
	err := r.act(ctx, agent.VerbCleanup, by, progress, &res)
	return res, err
}

// errorText is an error's words for a doctor check.
func (r *Remote) errorText(err error) string {
	var off *fleet.OfflineError
	if errors.As(err, &off) {
		return bot.OfflineText(off, r.c.now())
	}
	return usererr.Message(err)
}

func (r *Remote) badReply(verb string) error {
	return usererr.New(usererr.Internal, "%s answered %s with something the hub does not understand (another version?)", r.host, verb)
}

// sign signs a request for this service, by the actor.
func (r *Remote) sign(verb string, args []string, by manager.Actor) (sign.Signed, []byte, error) {
	if err := fleet.ValidHost(r.host); err != nil {
		return sign.Signed{}, nil, usererr.Wrap(err, usererr.Invalid, "%q is not a host name", human.Cut(r.host, 64))
	}
	s, err := r.c.signer.Sign(sign.Request{Host: r.host, Service: r.service, Verb: verb, Args: args,
		Actor: sign.Actor{ID: by.ID, Name: by.Name}})
	if err != nil {
		return sign.Signed{}, nil, fmt.Errorf("%s %s: %w", verb, r.Name(), err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return sign.Signed{}, nil, fmt.Errorf("%s %s: %w", verb, r.Name(), err)
	}
	return s, data, nil
}

// Acknowledge acknowledges the service's open alert on its agent's
// monitor, as by.
func (r *Remote) Acknowledge(ctx context.Context, by manager.Actor) error {
	return r.alertsCall(ctx, agent.VerbAck, nil, by)
}

// Maintenance opens (until in the future) or ends (until zero) a
// maintenance window of the service on its agent's monitor, as by.
func (r *Remote) Maintenance(ctx context.Context, until time.Time, by manager.Actor, reason string) error {
	return r.alertsCall(ctx, agent.VerbMaintenance, []string{until.UTC().Format(time.RFC3339Nano), reason}, by)
}

func (r *Remote) alertsCall(ctx context.Context, verb string, args []string, by manager.Actor) error {
	rep, err := r.call(ctx, verb, args, by)
	if err != nil {
		return err
	}
	if !rep.Done {
		return r.badReply(verb)
	}
	return nil
}

// Uptime is the service's report from its agent's history, named by its
// address.
func (r *Remote) Uptime(ctx context.Context, from, to time.Time, bucket time.Duration) (history.Report, error) {
	rep, err := r.read(ctx, agent.VerbUptime, []string{from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), bucket.String()})
	if err != nil {
		return history.Report{}, err
	}
	if rep.Uptime == nil {
		return history.Report{}, r.badReply(agent.VerbUptime)
	}
	rep.Uptime.Service = r.Name()
	for i := range rep.Uptime.Incidents {
		rep.Uptime.Incidents[i].Service = r.Name()
	}
	return *rep.Uptime, nil
}

// Incidents are the service's last n incidents from its agent's history.
func (r *Remote) Incidents(ctx context.Context, n int) ([]history.Incident, error) {
	rep, err := r.read(ctx, agent.VerbIncidents, []string{strconv.Itoa(n)})
	if err != nil {
		return nil, err
	}
	if rep.Incidents == nil {
		return nil, r.badReply(agent.VerbIncidents)
	}
	for i := range rep.Incidents {
		rep.Incidents[i].Service = r.Name()
	}
	return rep.Incidents, nil
}

// read asks the agent and returns its reply; an error reply is its error.
// bot.Service's reads carry no actor: the hub signs them as "hub:<host>".
func (r *Remote) read(ctx context.Context, verb string, args []string) (agent.Reply, error) {
	return r.call(ctx, verb, args, manager.Actor{ID: "hub:" + r.c.hub})
}

// call sends one request signed as by and returns the agent's reply.
func (r *Remote) call(ctx context.Context, verb string, args []string, by manager.Actor) (agent.Reply, error) {
	_, data, err := r.sign(verb, args, by)
	if err != nil {
		return agent.Reply{}, err
	}
	return r.request(ctx, verb, data)
}

// request sends one signed request and waits for the reply, up to the
// timeout. No responders is an *fleet.OfflineError at once.
func (r *Remote) request(ctx context.Context, verb string, data []byte) (agent.Reply, error) {
	rctx, cancel := context.WithTimeout(ctx, r.c.timeout)
	defer cancel()
	msg, err := r.c.conn.RequestWithContext(rctx, fleet.AgentSubject(r.host, verb), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		var since time.Time
		if r.c.lastSeen != nil {
			since = r.c.lastSeen(r.host)
		}
		return agent.Reply{}, &fleet.OfflineError{Host: r.host, Since: since}
	case err != nil && ctx.Err() != nil:
		return agent.Reply{}, fmt.Errorf("%s %s: %w", verb, r.Name(), ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return agent.Reply{}, usererr.Wrap(err, usererr.Unavailable, "%s did not answer %s within %s", r.host, verb, human.Duration(r.c.timeout))
	case err != nil:
		return agent.Reply{}, usererr.Wrap(err, usererr.Unavailable, "the hub cannot reach %s: the NATS connection is down", r.host)
	}
	var rep agent.Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		r.c.log.Warn().Err(err).Str("host", r.host).Str("verb", verb).Msg("fleet: an agent's reply is not JSON")
		if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
			return agent.Reply{}, usererr.New(usererr.Internal, "%s refused %s (%s)", r.host, verb, human.Cut(code, 8))
		}
		return agent.Reply{}, r.badReply(verb)
	}
	if rep.Error != nil {
		return agent.Reply{}, rep.Error.Decode()
	}
	return rep, nil
}

// act runs a long action on the agent: it subscribes to the action's
// events before it sends the request, forwards each step to progress and
// returns the final result, within the action timeout.
func (r *Remote) act(ctx context.Context, verb string, by manager.Actor, progress func(string), result any) error {
	signed, data, err := r.sign(verb, nil, by)
	if err != nil {
		return err
	}
	sub, err := r.c.conn.SubscribeSync(fleet.EventsSubject(r.host, signed.Nonce))
	if err != nil {
		return usererr.Wrap(err, usererr.Unavailable, "the hub cannot reach %s: the NATS connection is down", r.host)
	}
	defer func() { _ = sub.Unsubscribe() }()
	rep, err := r.request(ctx, verb, data)
	if err != nil {
		return err
	}
	if !rep.Accepted {
		return r.badReply(verb)
	}
	actx, cancel := context.WithTimeout(ctx, r.c.actionTimeout)
	defer cancel()
	for {
		msg, err := sub.NextMsgWithContext(actx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s %s: %w", verb, r.Name(), ctx.Err())
			}
			return usererr.Wrap(err, usererr.Unavailable, "no result of %s from %s within %s; it may still run there",
				verb, r.host, human.Duration(r.c.actionTimeout))
		}
		var ev agent.Event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			r.c.log.Warn().Err(err).Str("host", r.host).Str("verb", verb).Msg("fleet: an action's event is not JSON")
			continue
		}
		if !ev.Done {
			if progress != nil && ev.Step != "" {
				progress(ev.Step)
			}
			continue
		}
		if len(ev.Result) > 0 && string(ev.Result) != "null" {
			if err := json.Unmarshal(ev.Result, result); err != nil {
				r.c.log.Warn().Err(err).Str("host", r.host).Str("verb", verb).Msg("fleet: an action's result does not decode")
				return r.badReply(verb)
			}
		}
		return actionError(ev.Error, verb, r.Name())
	}
}

// actionError is the error of an action's result. An internal failure on
// the agent (no safe words there) becomes a plain error, so that the front
// end words it from the result's facts as it does for a local service
// (exited before healthy, processes survived); any other is Decode's.
func actionError(e *agent.Error, verb, name string) error {
	if e == nil {
		return nil
	}
	if (e.Code == usererr.Internal || e.Code == "") && e.Busy == nil && e.Precondition == nil &&
		(e.Message == "" || e.Message == usererr.Fallback) {
		return fmt.Errorf("%s %s failed on its host; the agent's log has the details", verb, name)
	}
	return e.Decode()
}
