package slackbot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/manager"
)

// DefaultStaffRefresh is how often user group members are read again.
const DefaultStaffRefresh = 5 * time.Minute

// Slack error codes the staff list and the checks tell apart.
const (
	errPlanUpgradeRequired = "plan_upgrade_required" // user groups need a paid plan
	errNoSuchSubteam       = "no_such_subteam"
	errMissingScope        = "missing_scope"
)

// StaffConfig says who may use the bot and where (SPEC.md section 4).
type StaffConfig struct {
	// Usergroups are user group IDs (S...): their members are staff once the
	// group has been read successfully (paid Slack plans only).
	Usergroups []string
	// Users are user IDs (U..., W...): staff from the first second, on every
	// plan.
	Users []string
	// AllowedChannels, when not empty, are the only channels (C..., G...,
	// D...) where commands are accepted. A DM is a channel too.
	AllowedChannels []string
	// Refresh is how often the groups are read again; 0 means 5 minutes.
	Refresh time.Duration
	// Command is the slash command named in refusals; "" means "/sanasend".
	Command string
}

// UsergroupsAPI reads a user group's members (usergroups.users.list).
// *slack.Client satisfies it.
type UsergroupsAPI interface {
	GetUserGroupMembersContext(ctx context.Context, group string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

var _ UsergroupsAPI = (*slack.Client)(nil)

// Refusals. Authorize returns a *StaffRefusal wrapping one of them, so that
// errors.Is tells the cases apart while Error() stays the text for the user.
var (
	ErrNotStaff          = errors.New("not staff")
	ErrChannelNotAllowed = errors.New("channel not allowed")
)

// StaffRefusal is Authorize's error: Error() is short, polite, and safe to
// show in Slack; Unwrap gives ErrNotStaff or ErrChannelNotAllowed.
type StaffRefusal struct {
	Reason error
	Text   string
}

func (r *StaffRefusal) Error() string { return r.Text }
func (r *StaffRefusal) Unwrap() error { return r.Reason }

// Staff decides who may use the bot: the configured users, plus the members
// of the configured user groups as last read from Slack. It implements
// bot.Authorizer. Its methods are safe for concurrent use.
type Staff struct {
	cfg      StaffConfig
	api      UsergroupsAPI
	log      zerolog.Logger
	clock    clockwork.Clock
	users    map[string]bool // fixed at construction
	channels map[string]bool // fixed at construction; empty = anywhere

	refreshMu sync.Mutex // one Refresh at a time, so results land in order

	mu     sync.RWMutex
	groups []*staffGroup // one per configured group, in config order; fields under mu

	schedMu sync.Mutex
	sched   gocron.Scheduler // nil unless started
}

var _ bot.Authorizer = (*Staff)(nil)

// staffGroup is what is known of one user group.
type staffGroup struct {
	id          string
	members     map[string]bool // nil until the first successful read
	lastSuccess time.Time
	lastAttempt time.Time
	lastErr     error // of the last attempt; nil when it succeeded
}

// StaffStatus is what `check` and the logs show of the staff list.
type StaffStatus struct {
	Users  int // configured user IDs
	Groups []StaffGroupStatus
}

// StaffGroupStatus is the state of one configured user group.
type StaffGroupStatus struct {
	ID string
	// Resolved: the group has been read successfully at least once, so its
	// members (as of LastSuccess) are staff.
	Resolved    bool
	Members     int
	LastSuccess time.Time // zero before the first success
	LastAttempt time.Time // zero before the first refresh
	// LastError is the error of the last attempt ("plan_upgrade_required",
	// "no_such_subteam", a network error), "" when it succeeded.
	LastError string
	// PlanUpgradeRequired: Slack answered that user groups need a paid plan.
	PlanUpgradeRequired bool
}

// NewStaff validates cfg and returns the staff list. It makes no network
// call: group members are read by Refresh, which Start schedules.
func NewStaff(cfg StaffConfig, api UsergroupsAPI, log zerolog.Logger, clock clockwork.Clock) (*Staff, error) {
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultStaffRefresh
	}
	if cfg.Refresh < time.Second {
		return nil, fmt.Errorf("new staff: refresh %s: must be at least 1s", cfg.Refresh)
	}
	if cfg.Command == "" {
		cfg.Command = "/sanasend"
	}
	if len(cfg.Usergroups) > 0 && api == nil {
		return nil, errors.New("new staff: user groups are configured but no Slack API client was given")
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	s := &Staff{cfg: cfg, api: api, log: log, clock: clock,
		users: make(map[string]bool), channels: make(map[string]bool)}
	for _, list := range []struct {
		key string
		ids []string
		set map[string]bool
	}{{"users", cfg.Users, s.users}, {"allowed_channels", cfg.AllowedChannels, s.channels}} {
		for i, id := range list.ids {
			if strings.TrimSpace(id) == "" {
				return nil, fmt.Errorf("new staff: %s[%d] is empty", list.key, i)
			}
			list.set[id] = true
		}
	}
	seen := make(map[string]bool)
	for i, id := range cfg.Usergroups {
		if strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("new staff: usergroups[%d] is empty", i)
		}
		if !seen[id] {
			seen[id] = true
			s.groups = append(s.groups, &staffGroup{id: id})
		}
	}
	if len(s.users) == 0 && len(s.groups) == 0 {
		s.log.Warn().Msg("staff: slack.staff.users and slack.staff.usergroups are both empty: nobody may use the bot")
	}
	return s, nil
}

// Start schedules Refresh every cfg.Refresh on a gocron scheduler driven by
// the Staff's clock: the first run at once, never two at the same time. A
// run due while the previous one is still going waits for it (singleton
// wait mode) rather than being dropped; as a run is abandoned after one
// period, at most one ever waits. Start returns once scheduled, without
// waiting for the first refresh; until that succeeds only cfg.Users are
// staff. Refreshes stop when ctx is done or on Stop. With no user groups
// configured there is nothing to schedule.
func (s *Staff) Start(ctx context.Context) error {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	if s.sched != nil {
		return errors.New("start staff refresh: already started")
	}
	if len(s.groups) == 0 {
		return nil
	}
	sched, err := gocron.NewScheduler(gocron.WithClock(s.clock), gocron.WithStopTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("start staff refresh: %w", err)
	}
	_, err = sched.NewJob(
		gocron.DurationJob(s.cfg.Refresh),
		gocron.NewTask(s.staffRefreshJob),
		gocron.WithName("staff refresh"),
		gocron.WithContext(ctx),
		gocron.WithSingletonMode(gocron.LimitModeWait),
		gocron.WithStartAt(gocron.WithStartImmediately()),
	)
	if err != nil {
		_ = sched.Shutdown()
		return fmt.Errorf("start staff refresh: %w", err)
	}
	sched.Start()
	s.sched = sched
	return nil
}

// staffRefreshJob is the scheduled refresh. A refresh that has not finished
// after one period is abandoned: the next one starts afresh.
func (s *Staff) staffRefreshJob(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Refresh)
	defer cancel()
	_ = s.Refresh(ctx) // Refresh logs what went wrong
}

// Stop shuts the refresh scheduler down, cancelling a refresh in flight, and
// returns when its goroutines have ended. Stop without Start does nothing.
func (s *Staff) Stop() error {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	if s.sched == nil {
		return nil
	}
	err := s.sched.Shutdown()
	s.sched = nil
	if err != nil {
		return fmt.Errorf("stop staff refresh: %w", err)
	}
	return nil
}

// Refresh reads the members of every configured user group once. A group
// read successfully replaces its members; a failure keeps the last good list
// of that group (nobody from it before a first success) and is logged as a
// warning. plan_upgrade_required is logged once per refresh, as an error
// that explains it; the other groups are not asked then, as the answer is
// the workspace's. The error joins every group's failure; the staff list is
// usable whatever it is.
func (s *Staff) Refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	var errs []error
	var planUpgrade []string
	for _, g := range s.groups {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("refresh staff: %w", err))
			break
		}
		var members []string
		var err error
		if len(planUpgrade) > 0 {
			err = slack.SlackErrorResponse{Err: errPlanUpgradeRequired}
		} else {
			members, err = s.api.GetUserGroupMembersContext(ctx, g.id)
		}
		now := s.clock.Now()
		if err != nil && ctx.Err() != nil {
			// Cancelled (shutdown, or the refresh took a whole period): say
			// nothing about the group, it was not really asked.
			errs = append(errs, fmt.Errorf("refresh staff: user group %s: %w", g.id, ctx.Err()))
			break
		}
		s.mu.Lock()
		g.lastAttempt, g.lastErr = now, err
		if err == nil {
			g.members = make(map[string]bool, len(members))
			for _, m := range members {
				g.members[m] = true
			}
			g.lastSuccess = now
		}
		kept, resolved, lastOK := len(g.members), g.members != nil, g.lastSuccess
		s.mu.Unlock()

		if err == nil {
			s.log.Debug().Str("usergroup", g.id).Int("members", len(members)).Msg("staff: user group read")
			continue
		}
		errs = append(errs, fmt.Errorf("refresh staff: user group %s: %w", g.id, err))
		if staffSlackErrCode(err) == errPlanUpgradeRequired {
			planUpgrade = append(planUpgrade, g.id)
			continue
		}
		ev := s.log.Warn().Str("usergroup", g.id).Str("error", staffErrLine(err))
		if resolved {
			ev.Int("kept_members", kept).Time("last_success", lastOK).
				Msg("staff: could not read the user group; keeping its last good member list")
		} else {
			ev.Msg("staff: could not read the user group; none of its members may use the bot until it is read")
		}
	}
	if len(planUpgrade) > 0 {
		s.log.Error().Strs("usergroups", planUpgrade).Str("error", errPlanUpgradeRequired).
			Msg("staff: Slack user groups need a paid Slack plan (usergroups.users.list answered plan_upgrade_required), " +
				"so slack.staff.usergroups cannot be read and members of a group never read are not staff; " +
				"slack.staff.users works on every plan: list the staff's user IDs there")
	}
	return errors.Join(errs...)
}

// Authorize lets staff use the bot from an allowed channel. A refusal is a
// *StaffRefusal whose text is shown to the user: who is not staff is told so
// whatever the channel; staff in another channel are told where the bot may
// be used.
func (s *Staff) Authorize(_ context.Context, user manager.Actor, channel string) error {
	if !s.isStaff(user.ID) {
		return &StaffRefusal{Reason: ErrNotStaff,
			Text: fmt.Sprintf("Sorry, only SanaSend on-call staff may use %s. Ask in #ops to be added.", s.cfg.Command)}
	}
	if len(s.channels) > 0 && !s.channels[channel] {
		return &StaffRefusal{Reason: ErrChannelNotAllowed,
			Text: fmt.Sprintf("Sorry, %s may only be used in %s.", s.cfg.Command, staffChannelList(s.cfg.AllowedChannels))}
	}
	return nil
}

// isStaff: a configured user, or a member of a group as last read.
func (s *Staff) isStaff(userID string) bool {
	if userID == "" {
		return false
	}
	if s.users[userID] {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, g := range s.groups {
		if g.members[userID] {
			return true
		}
	}
	return false
}

// Status reports the configured users and what is known of each group.
func (s *Staff) Status() StaffStatus {
	st := StaffStatus{Users: len(s.users)}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, g := range s.groups {
		gs := StaffGroupStatus{ID: g.id, Resolved: g.members != nil, Members: len(g.members),
			LastSuccess: g.lastSuccess, LastAttempt: g.lastAttempt}
		if g.lastErr != nil {
			gs.LastError = staffErrLine(g.lastErr)
			gs.PlanUpgradeRequired = staffSlackErrCode(g.lastErr) == errPlanUpgradeRequired
		}
		st.Groups = append(st.Groups, gs)
	}
	return st
}

// staffChannelList renders channel IDs as Slack mentions: "<#C1>",
// "<#C1> or <#C2>", "<#C1>, <#C2> or <#C3>".
func staffChannelList(ids []string) string {
	var uniq []string
	for _, id := range ids {
		if !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	m := make([]string, len(uniq))
	for i, id := range uniq {
		m[i] = "<#" + id + ">"
	}
	if len(m) <= 1 {
		return strings.Join(m, "")
	}
	return strings.Join(m[:len(m)-1], ", ") + " or " + m[len(m)-1]
}

// staffSlackErrCode returns Slack's error code ("invalid_auth") when err is
// an "ok": false answer, else "".
func staffSlackErrCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	var sep *slack.SlackErrorResponse
	if errors.As(err, &sep) && sep != nil {
		return sep.Err
	}
	return ""
}

// staffErrLine makes err one line.
func staffErrLine(err error) string {
	s := strings.TrimSpace(RedactURLs(err.Error()))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
