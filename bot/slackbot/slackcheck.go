package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// CheckAPI is the part of the Web API that `check` reads. *slack.Client
// satisfies it.
type CheckAPI interface {
	AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error)
	GetConversationInfoContext(ctx context.Context, input *slack.GetConversationInfoInput) (*slack.Channel, error)
	UsergroupsAPI
}

var _ CheckAPI = (*slack.Client)(nil)

// SlackCheckConfig is the part of the config the Slack checks look at.
type SlackCheckConfig struct {
	AlertsChannel string   // slack.alerts_channel
	Usergroups    []string // slack.staff.usergroups
	Users         []string // slack.staff.users
	// RequiredScopes are the bot scopes that must be granted; nil means
	// BotScopes().
	RequiredScopes []string
	// Timeout bounds each check's API calls, retries included; 0 means 20s.
	Timeout time.Duration
}

const checkSlackDefaultTimeout = 20 * time.Second

// Names of the Slack checks, stable like manager's.
const (
	CheckSlackAuth     = "slack auth"
	CheckSlackScopes   = "slack scopes"
	CheckAlertsChannel = "alerts channel"
	CheckUserGroups    = "user groups"
	CheckStaff         = "staff"
)

// Slack error codes that say the token itself is bad.
var checkBadTokenCodes = []string{"invalid_auth", "not_authed", "account_inactive", "token_revoked",
	"token_expired", "not_allowed_token_type"}

const (
	checkHintToken   = "check slack.bot_token: it must be the app's Bot User OAuth Token (xoxb-...) from OAuth & Permissions; reinstall the app if it was revoked"
	checkHintNetwork = "check that this host reaches Slack (proxy, firewall, DNS) and slack.api_url"
	checkHintScopes  = "add them under OAuth & Permissions > Bot Token Scopes (or recreate the app from `sanasend-bot manifest`), then reinstall the app to the workspace"
	checkHintPaid    = "user groups need a paid Slack plan; list the staff's user IDs in slack.staff.users, which works on every plan"
)

// SlackChecks are the Slack part of `sanasend-bot check`, in order: "slack
// auth" (auth.test: the token works; team and bot user), "slack scopes" (the
// granted bot scopes include cfg.RequiredScopes), "alerts channel" (it
// exists and the bot can post there: it is a member, or the channel is
// public and chat:write.public is granted), "user groups" (each configured
// group can be read) and "staff" (somebody may use the bot).
//
// scopes returns the token's granted scopes (GrantedScopes does, with a plain
// auth.test); nil means the X-OAuth-Scopes header of the auth.test answer
// the "slack auth" check got, which slack-go v0.35 keeps in
// AuthTestResponse.Header. When auth fails the checks that need the API are
// reported as not checked.
func SlackChecks(ctx context.Context, api CheckAPI, scopes func(ctx context.Context) ([]string, error), cfg SlackCheckConfig) []doctor.Check {
	if cfg.Timeout <= 0 {
		cfg.Timeout = checkSlackDefaultTimeout
	}
	if cfg.RequiredScopes == nil {
		cfg.RequiredScopes = BotScopes()
	}
	auth, authCheck := checkSlackAuth(ctx, api, cfg.Timeout)
	checks := []doctor.Check{authCheck}
	if auth == nil {
		for _, name := range []string{CheckSlackScopes, CheckAlertsChannel, CheckUserGroups} {
			checks = append(checks, checkVerdict(name, doctor.VerdictWarn,
				"not checked: slack auth failed", "fix slack auth first"))
		}
		return append(checks, checkStaffConfig(cfg, false))
	}
	granted, scopesCheck := checkSlackScopes(ctx, auth, scopes, cfg)
	checks = append(checks, scopesCheck, checkAlertsChannel(ctx, api, auth, granted, cfg))
	groups, planUpgrade := checkUserGroups(ctx, api, cfg)
	return append(checks, groups, checkStaffConfig(cfg, planUpgrade))
}

func checkSlackAuth(ctx context.Context, api CheckAPI, timeout time.Duration) (*slack.AuthTestResponse, doctor.Check) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := api.AuthTestContext(ctx)
	if err != nil {
		if code := staffSlackErrCode(err); slices.Contains(checkBadTokenCodes, code) {
			return nil, checkVerdict(CheckSlackAuth, doctor.VerdictFail, "auth.test: "+code, checkHintToken)
		}
		return nil, checkVerdict(CheckSlackAuth, doctor.VerdictFail, "auth.test: "+checkSlackErr(err), checkHintNetwork)
	}
	if resp == nil {
		return nil, checkVerdict(CheckSlackAuth, doctor.VerdictFail, "auth.test: empty answer", checkHintNetwork)
	}
	detail := fmt.Sprintf("team %s (%s), bot @%s (%s)", resp.Team, resp.TeamID, resp.User, resp.UserID)
	if resp.BotID == "" {
		// A user token works with auth.test too, but the bot must post as
		// itself and slash commands are bot features.
		return resp, checkVerdict(CheckSlackAuth, doctor.VerdictFail,
			detail+": this is not a bot token", checkHintToken)
	}
	return resp, checkVerdict(CheckSlackAuth, doctor.VerdictOK, detail, "")
}

// checkSlackScopes returns the granted scopes, nil when they are unknown.
func checkSlackScopes(ctx context.Context, auth *slack.AuthTestResponse, scopes func(context.Context) ([]string, error), cfg SlackCheckConfig) ([]string, doctor.Check) {
	var granted []string
	if scopes != nil {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		var err error
		if granted, err = scopes(ctx); err != nil {
			return nil, checkVerdict(CheckSlackScopes, doctor.VerdictWarn,
				"cannot read the granted scopes: "+checkSlackErr(err), checkHintNetwork)
		}
	} else {
		h := auth.Header.Get("X-OAuth-Scopes")
		if h == "" {
			return nil, checkVerdict(CheckSlackScopes, doctor.VerdictWarn,
				"Slack did not say which scopes the token has (no X-OAuth-Scopes header)",
				"compare OAuth & Permissions > Bot Token Scopes with: "+strings.Join(cfg.RequiredScopes, ", "))
		}
		granted = checkParseScopes(h)
	}
	var missing []string
	for _, s := range cfg.RequiredScopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return granted, checkVerdict(CheckSlackScopes, doctor.VerdictFail,
			fmt.Sprintf("missing %s (granted: %s)", strings.Join(missing, ", "), checkList(granted)), checkHintScopes)
	}
	return granted, checkVerdict(CheckSlackScopes, doctor.VerdictOK, "granted: "+checkList(granted), "")
}

// checkAlertsChannel fails unless alerts can be posted to the alerts
// channel: Slack answers not_in_channel to a bot that is not a member,
// unless the channel is public and the bot has chat:write.public. granted
// nil means the granted scopes are unknown.
func checkAlertsChannel(ctx context.Context, api CheckAPI, auth *slack.AuthTestResponse, granted []string, cfg SlackCheckConfig) doctor.Check {
	id := cfg.AlertsChannel
	if id == "" {
		return checkVerdict(CheckAlertsChannel, doctor.VerdictFail, "slack.alerts_channel is not set",
			"set it to the channel's ID (C...): in Slack, open the channel's details; the ID is at the bottom")
	}
	botName := auth.User
	if botName == "" {
		botName = manifestDefaultName
	}
	invite := fmt.Sprintf("invite the bot: /invite @%s", botName)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ch, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		switch code := staffSlackErrCode(err); code {
		case "channel_not_found":
			return checkVerdict(CheckAlertsChannel, doctor.VerdictFail, id+": channel not found",
				"slack.alerts_channel must be a channel ID (C...), not a name; for a private channel, "+invite+" first")
		case errMissingScope:
			return checkVerdict(CheckAlertsChannel, doctor.VerdictFail,
				id+": cannot read the channel: missing scope "+checkNeeded(err, "channels:read or groups:read"), checkHintScopes)
		case "":
			return checkVerdict(CheckAlertsChannel, doctor.VerdictFail, id+": "+checkSlackErr(err), checkHintNetwork)
		default:
			return checkVerdict(CheckAlertsChannel, doctor.VerdictFail, id+": conversations.info: "+code,
				"check slack.alerts_channel")
		}
	}
	name := id
	if ch.Name != "" {
		name = fmt.Sprintf("#%s (%s)", ch.Name, id)
	}
	switch {
	case ch.IsArchived:
		return checkVerdict(CheckAlertsChannel, doctor.VerdictFail, name+" is archived",
			"unarchive it or set slack.alerts_channel to another channel")
	case ch.IsMember:
		return checkVerdict(CheckAlertsChannel, doctor.VerdictOK, name+", the bot is a member", "")
	case ch.IsPrivate:
		return checkVerdict(CheckAlertsChannel, doctor.VerdictFail,
			name+" is private and the bot is not a member: alerts cannot be posted there (not_in_channel)", invite)
	case slices.Contains(granted, ScopeChatWritePublic):
		return checkVerdict(CheckAlertsChannel, doctor.VerdictOK,
			name+" is public: the bot posts there with "+ScopeChatWritePublic+" (it is not a member)", "")
	}
	hint := invite + ", or grant the bot " + ScopeChatWritePublic + " (`sanasend-bot manifest` asks for it) and reinstall the app"
	if granted == nil {
		return checkVerdict(CheckAlertsChannel, doctor.VerdictWarn,
			name+": the bot is not a member, so it can post there only with "+ScopeChatWritePublic+", which could not be checked", hint)
	}
	return checkVerdict(CheckAlertsChannel, doctor.VerdictFail,
		name+": the bot is not a member and lacks "+ScopeChatWritePublic+": alerts cannot be posted there (not_in_channel)", hint)
}

// checkUserGroups reads every configured group once. It reports whether
// Slack answered plan_upgrade_required.
func checkUserGroups(ctx context.Context, api CheckAPI, cfg SlackCheckConfig) (doctor.Check, bool) {
	if len(cfg.Usergroups) == 0 {
		return checkVerdict(CheckUserGroups, doctor.VerdictOK, "none configured (staff is slack.staff.users)", ""), false
	}
	verdict := doctor.VerdictOK
	var details, hints []string
	note := func(v doctor.Verdict, detail, hint string) {
		if checkRank(v) > checkRank(verdict) {
			verdict = v
		}
		details = append(details, detail)
		if hint != "" && !slices.Contains(hints, hint) {
			hints = append(hints, hint)
		}
	}
	for _, g := range cfg.Usergroups {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		members, err := api.GetUserGroupMembersContext(cctx, g)
		cancel()
		switch code := staffSlackErrCode(err); {
		case err == nil && len(members) == 0:
			note(doctor.VerdictWarn, g+": no members", "add the on-call staff to the group, or list them in slack.staff.users")
		case err == nil:
			note(doctor.VerdictOK, fmt.Sprintf("%s: %d members", g, len(members)), "")
		case code == errPlanUpgradeRequired:
			// The workspace's plan: every group gets the same answer.
			return checkVerdict(CheckUserGroups, doctor.VerdictWarn,
				"plan_upgrade_required: user groups need a paid Slack plan, so members of "+
					strings.Join(cfg.Usergroups, ", ")+" are not staff", checkHintPaid), true
		case code == errNoSuchSubteam:
			note(doctor.VerdictFail, g+": no such user group",
				"check slack.staff.usergroups: user group IDs (S...), from the group's page in Slack")
		case code == errMissingScope:
			note(doctor.VerdictFail, g+": missing scope "+checkNeeded(err, "usergroups:read"), checkHintScopes)
		case code != "":
			note(doctor.VerdictFail, g+": usergroups.users.list: "+code, "check slack.staff.usergroups")
		default:
			note(doctor.VerdictFail, g+": "+checkSlackErr(err), checkHintNetwork)
		}
	}
	return checkVerdict(CheckUserGroups, verdict, strings.Join(details, "; "), strings.Join(hints, "; ")), false
}

// checkStaffConfig fails when nobody may use the bot.
func checkStaffConfig(cfg SlackCheckConfig, planUpgrade bool) doctor.Check {
	const hint = "add user IDs (U...) to slack.staff.users (every plan) or user group IDs (S...) to slack.staff.usergroups (paid plans)"
	switch {
	case len(cfg.Users) == 0 && len(cfg.Usergroups) == 0:
		return checkVerdict(CheckStaff, doctor.VerdictFail,
			"nobody may use the bot: slack.staff.users and slack.staff.usergroups are both empty", hint)
	case len(cfg.Users) == 0 && planUpgrade:
		return checkVerdict(CheckStaff, doctor.VerdictFail,
			"nobody may use the bot: user groups need a paid Slack plan and slack.staff.users is empty", checkHintPaid)
	}
	return checkVerdict(CheckStaff, doctor.VerdictOK,
		human.Count(len(cfg.Users), "user")+" and "+human.Count(len(cfg.Usergroups), "user group"), "")
}

// GrantedScopes returns the scopes granted to token, from the X-OAuth-Scopes
// header of a plain auth.test POST to apiURL ("" = Slack's). httpClient nil
// means http.DefaultClient. Slack's refusal comes back as a
// slack.SlackErrorResponse ("invalid_auth"); the token is never in an error.
func GrantedScopes(ctx context.Context, httpClient *http.Client, apiURL, token string) ([]string, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, clientAPIURL(apiURL)+"auth.test", http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("auth.test: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth.test: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("auth.test: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth.test: %w", slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status})
	}
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("auth.test: answer is not JSON: %w", err)
	}
	if !answer.OK {
		if answer.Error == "" {
			answer.Error = "unknown_error"
		}
		return nil, fmt.Errorf("auth.test: %w", slack.SlackErrorResponse{Err: answer.Error})
	}
	h := resp.Header.Get("X-OAuth-Scopes")
	if h == "" {
		return nil, errors.New("auth.test: the answer has no X-OAuth-Scopes header")
	}
	return checkParseScopes(h), nil
}

// checkParseScopes splits an X-OAuth-Scopes header: "commands,chat:write".
func checkParseScopes(h string) []string {
	var out []string
	for s := range strings.SplitSeq(h, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func checkVerdict(name string, v doctor.Verdict, detail, hint string) doctor.Check {
	if v == doctor.VerdictOK {
		hint = ""
	}
	return doctor.Check{Name: name, Verdict: v, Detail: detail, Hint: hint}
}

func checkRank(v doctor.Verdict) int {
	switch v {
	case doctor.VerdictFail:
		return 2
	case doctor.VerdictWarn:
		return 1
	}
	return 0
}

// checkSlackErr is one line for a failed call: Slack's code, "HTTP 503",
// "rate limited (retry after 2m0s)", or the transport error.
func checkSlackErr(err error) string {
	if code := staffSlackErrCode(err); code != "" {
		return code
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return fmt.Sprintf("HTTP %d from Slack", sc.Code)
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Sprintf("rate limited by Slack (retry after %s)", rl.RetryAfter)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return staffErrLine(err)
}

// checkNeeded is the scope Slack said was needed, else fallback.
func checkNeeded(err error, fallback string) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && se.Needed != "" {
		return se.Needed
	}
	return fallback
}

func checkList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
