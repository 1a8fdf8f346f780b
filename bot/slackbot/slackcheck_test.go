package slackbot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/doctor"
)

// checkFakeSlack answers the three methods the checks call. Answers are
// JSON bodies; an empty one is "ok": true with nothing else.
type checkFakeSlack struct {
	auth     string            // auth.test body
	scopes   string            // auth.test X-OAuth-Scopes header; "-" for none
	channels map[string]string // conversations.info body by channel
	groups   map[string]string // usergroups.users.list body by group

	mu    sync.Mutex
	calls []string // "method arg"
}

const (
	checkAuthOK   = `{"ok":true,"url":"https://acme.slack.com/","team":"Acme","user":"sanasend-bot","team_id":"T1","user_id":"U0BOT","bot_id":"B1"}`
	checkAllScope = "commands,chat:write,files:write,usergroups:read,channels:read,groups:read,chat:write.public"
)

func checkChannelJSON(name string, member, archived bool) string {
	b := func(v bool) string {
		if v {
			return "true"
		}
		return "false"
	}
	return `{"ok":true,"channel":{"id":"C0ALERTS","name":"` + name + `","is_channel":true,"is_member":` + b(member) +
		`,"is_archived":` + b(archived) + `}}`
}

func checkGroupJSON(users ...string) string {
	q := make([]string, len(users))
	for i, u := range users {
		q[i] = `"` + u + `"`
	}
	return `{"ok":true,"users":[` + strings.Join(q, ",") + `]}`
}

func checkErrJSON(code string) string { return `{"ok":false,"error":"` + code + `"}` }

func (f *checkFakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	var body string
	switch method {
	case "auth.test":
		body = f.auth
		if f.scopes != "-" {
			w.Header().Set("X-OAuth-Scopes", f.scopes)
		}
		f.note(method, "")
	case "conversations.info":
		ch := r.Form.Get("channel")
		f.note(method, ch)
		var ok bool
		if body, ok = f.channels[ch]; !ok {
			body = checkErrJSON("channel_not_found")
		}
	case "usergroups.users.list":
		g := r.Form.Get("usergroup")
		f.note(method, g)
		var ok bool
		if body, ok = f.groups[g]; !ok {
			body = checkErrJSON("no_such_subteam")
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

func (f *checkFakeSlack) note(method, arg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.TrimSpace(method+" "+arg))
}

// checkGood is a workspace where every check passes.
func checkGood() *checkFakeSlack {
	return &checkFakeSlack{
		auth:     checkAuthOK,
		scopes:   checkAllScope,
		channels: map[string]string{"C0ALERTS": checkChannelJSON("alerts", true, false)},
		groups:   map[string]string{"S0STAFF": checkGroupJSON("U1", "U2", "U3")},
	}
}

func checkGoodConfig() SlackCheckConfig {
	return SlackCheckConfig{AlertsChannel: "C0ALERTS", Usergroups: []string{"S0STAFF"}, Users: []string{"U0ADMIN"}}
}

func runSlackChecks(t *testing.T, fake *checkFakeSlack, scopes func(context.Context) ([]string, error), cfg SlackCheckConfig) map[string]doctor.Check {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	api := NewClient("xoxb-secret-token", srv.URL+"/api/", WithHTTPClient(hc), WithRetryPolicy(clientTestPolicy()))
	checks := SlackChecks(context.Background(), api, scopes, cfg)
	var names []string
	byName := make(map[string]doctor.Check)
	for _, c := range checks {
		names = append(names, c.Name)
		byName[c.Name] = c
		if strings.Contains(c.Detail+c.Hint, "secret-token") {
			t.Errorf("check %q shows the token: %+v", c.Name, c)
		}
		if c.Verdict != doctor.VerdictOK && c.Hint == "" {
			t.Errorf("check %q is %s without a hint: %+v", c.Name, c.Verdict, c)
		}
	}
	want := []string{"slack auth", "slack scopes", "alerts channel", "user groups", "staff"}
	if !slices.Equal(names, want) {
		t.Fatalf("SlackChecks names = %q; want %q", names, want)
	}
	return byName
}

// checkExpect asserts one check's verdict and that detail and hint contain
// the given texts.
func checkExpect(t *testing.T, got map[string]doctor.Check, name string, v doctor.Verdict, detail, hint string) {
	t.Helper()
	c := got[name]
	if c.Verdict != v || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Hint, hint) {
		t.Errorf("check %q = %+v; want %s with detail containing %q and hint containing %q", name, c, v, detail, hint)
	}
}

func TestSlackChecksAllPass(t *testing.T) {
	fake := checkGood()
	got := runSlackChecks(t, fake, nil, checkGoodConfig())
	checkExpect(t, got, "slack auth", doctor.VerdictOK, "team Acme (T1), bot @sanasend-bot (U0BOT)", "")
	checkExpect(t, got, "slack scopes", doctor.VerdictOK, "usergroups:read", "")
	checkExpect(t, got, "alerts channel", doctor.VerdictOK, "#alerts (C0ALERTS), the bot is a member", "")
	checkExpect(t, got, "user groups", doctor.VerdictOK, "S0STAFF: 3 members", "")
	checkExpect(t, got, "staff", doctor.VerdictOK, "1 user and 1 user group", "")
	want := []string{"auth.test", "conversations.info C0ALERTS", "usergroups.users.list S0STAFF"}
	if !slices.Equal(fake.calls, want) {
		t.Errorf("API calls = %q; want %q (scopes come from auth.test's header)", fake.calls, want)
	}
}

func TestSlackChecksInvalidAuth(t *testing.T) {
	fake := checkGood()
	fake.auth = checkErrJSON("invalid_auth")
	fake.scopes = "-"
	got := runSlackChecks(t, fake, nil, checkGoodConfig())
	checkExpect(t, got, "slack auth", doctor.VerdictFail, "invalid_auth", "check slack.bot_token")
	for _, name := range []string{"slack scopes", "alerts channel", "user groups"} {
		checkExpect(t, got, name, doctor.VerdictWarn, "not checked: slack auth failed", "fix slack auth first")
	}
	checkExpect(t, got, "staff", doctor.VerdictOK, "1 user", "")
	if len(fake.calls) != 1 {
		t.Errorf("API calls = %q; want auth.test only", fake.calls)
	}
}

func TestSlackChecksUserTokenIsNotABotToken(t *testing.T) {
	fake := checkGood()
	fake.auth = `{"ok":true,"team":"Acme","user":"alice","team_id":"T1","user_id":"U7"}`
	got := runSlackChecks(t, fake, nil, checkGoodConfig())
	checkExpect(t, got, "slack auth", doctor.VerdictFail, "not a bot token", "check slack.bot_token")
}

func TestSlackChecksMissingScopes(t *testing.T) {
	fake := checkGood()
	fake.scopes = "commands, chat:write"
	got := runSlackChecks(t, fake, nil, checkGoodConfig())
	checkExpect(t, got, "slack scopes", doctor.VerdictFail,
		"missing files:write, usergroups:read, channels:read, groups:read (granted: commands, chat:write)",
		"reinstall the app")
}

func TestSlackChecksScopesFromFunc(t *testing.T) {
	fake := checkGood()
	fake.scopes = "-" // the header is not looked at when a func is given
	scopes := func(context.Context) ([]string, error) { return BotScopes(), nil }
	got := runSlackChecks(t, fake, scopes, checkGoodConfig())
	checkExpect(t, got, "slack scopes", doctor.VerdictOK, "commands", "")

	failing := func(context.Context) ([]string, error) { return nil, errors.New("dial tcp: connection refused") }
	got = runSlackChecks(t, checkGood(), failing, checkGoodConfig())
	checkExpect(t, got, "slack scopes", doctor.VerdictWarn, "cannot read the granted scopes: dial tcp: connection refused", "reaches Slack")

	fake = checkGood()
	fake.scopes = "-"
	got = runSlackChecks(t, fake, nil, checkGoodConfig())
	checkExpect(t, got, "slack scopes", doctor.VerdictWarn, "no X-OAuth-Scopes header", "Bot Token Scopes")
}

func TestSlackChecksAlertsChannel(t *testing.T) {
	for _, tc := range []struct {
		name         string
		channel      string // config
		answer       string // conversations.info; "" = not found
		v            doctor.Verdict
		detail, hint string
		scopes       string // granted; "" = checkAllScope, "-" = unknown
	}{
		{"not a member, no chat:write.public", "C0ALERTS", checkChannelJSON("alerts", false, false), doctor.VerdictFail,
			"#alerts (C0ALERTS): the bot is not a member and lacks chat:write.public: alerts cannot be posted there (not_in_channel)",
			"invite the bot: /invite @sanasend-bot, or grant the bot chat:write.public", "commands,chat:write,files:write,usergroups:read,channels:read,groups:read"},
		{"not a member, chat:write.public", "C0ALERTS", checkChannelJSON("alerts", false, false), doctor.VerdictOK,
			"#alerts (C0ALERTS) is public: the bot posts there with chat:write.public", "", ""},
		{"not a member, scopes unknown", "C0ALERTS", checkChannelJSON("alerts", false, false), doctor.VerdictWarn,
			"only with chat:write.public, which could not be checked", "/invite @sanasend-bot", "-"},
		{"not a member of a private channel", "C0ALERTS",
			`{"ok":true,"channel":{"id":"C0ALERTS","name":"ops","is_channel":false,"is_group":true,"is_private":true,"is_member":false}}`,
			doctor.VerdictFail, "#ops (C0ALERTS) is private and the bot is not a member", "invite the bot: /invite @sanasend-bot", ""},
		{"a member", "C0ALERTS", checkChannelJSON("alerts", true, false), doctor.VerdictOK, "#alerts (C0ALERTS), the bot is a member", "",
			"commands,chat:write,files:write,usergroups:read,channels:read,groups:read"},
		{"not found", "C0ALERTS", "", doctor.VerdictFail, "C0ALERTS: channel not found", "not a name", ""},
		{"archived", "C0ALERTS", checkChannelJSON("old-alerts", true, true), doctor.VerdictFail,
			"#old-alerts (C0ALERTS) is archived", "unarchive", ""},
		{"missing scope", "C0ALERTS", `{"ok":false,"error":"missing_scope","needed":"channels:read","provided":"commands"}`,
			doctor.VerdictFail, "missing scope channels:read", "Bot Token Scopes", ""},
		{"unset", "", "", doctor.VerdictFail, "slack.alerts_channel is not set", "channel's ID", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := checkGood()
			if tc.scopes != "" {
				fake.scopes = tc.scopes
			}
			fake.channels = map[string]string{}
			if tc.answer != "" {
				fake.channels["C0ALERTS"] = tc.answer
			}
			cfg := checkGoodConfig()
			cfg.AlertsChannel = tc.channel
			got := runSlackChecks(t, fake, nil, cfg)
			checkExpect(t, got, "alerts channel", tc.v, tc.detail, tc.hint)
		})
	}
}

func TestSlackChecksUserGroups(t *testing.T) {
	for _, tc := range []struct {
		name               string
		groups             map[string]string
		cfgGroups, users   []string
		groupsV            doctor.Verdict
		groupsDetail, hint string
		staffV             doctor.Verdict
		staffDetail        string
		calls              int // usergroups.users.list calls
	}{
		{"plan upgrade, users listed",
			map[string]string{"S1": checkErrJSON("plan_upgrade_required"), "S2": checkErrJSON("plan_upgrade_required")},
			[]string{"S1", "S2"}, []string{"U1"},
			doctor.VerdictWarn, "user groups need a paid Slack plan, so members of S1, S2 are not staff",
			"slack.staff.users, which works on every plan",
			doctor.VerdictOK, "1 user and 2 user groups", 1},
		{"plan upgrade, no users",
			map[string]string{"S1": checkErrJSON("plan_upgrade_required")},
			[]string{"S1"}, nil,
			doctor.VerdictWarn, "plan_upgrade_required", "paid Slack plan",
			doctor.VerdictFail, "nobody may use the bot: user groups need a paid Slack plan", 1},
		{"no such group",
			map[string]string{"S1": checkGroupJSON("U1", "U2")},
			[]string{"S1", "S404"}, nil,
			doctor.VerdictFail, "S1: 2 members; S404: no such user group", "check slack.staff.usergroups",
			doctor.VerdictOK, "0 users and 2 user groups", 2},
		{"empty group",
			map[string]string{"S1": checkGroupJSON()},
			[]string{"S1"}, []string{"U1"},
			doctor.VerdictWarn, "S1: no members", "add the on-call staff",
			doctor.VerdictOK, "1 user and 1 user group", 1},
		{"missing scope",
			map[string]string{"S1": `{"ok":false,"error":"missing_scope","needed":"usergroups:read"}`},
			[]string{"S1"}, []string{"U1"},
			doctor.VerdictFail, "S1: missing scope usergroups:read", "Bot Token Scopes",
			doctor.VerdictOK, "1 user", 1},
		{"none configured", nil, nil, []string{"U1", "U2"},
			doctor.VerdictOK, "none configured", "",
			doctor.VerdictOK, "2 users and 0 user groups", 0},
		{"nobody at all", nil, nil, nil,
			doctor.VerdictOK, "none configured", "",
			doctor.VerdictFail, "nobody may use the bot", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := checkGood()
			fake.groups = tc.groups
			cfg := checkGoodConfig()
			cfg.Usergroups, cfg.Users = tc.cfgGroups, tc.users
			got := runSlackChecks(t, fake, nil, cfg)
			checkExpect(t, got, "user groups", tc.groupsV, tc.groupsDetail, tc.hint)
			checkExpect(t, got, "staff", tc.staffV, tc.staffDetail, "")
			n := 0
			for _, c := range fake.calls {
				if strings.HasPrefix(c, "usergroups.users.list") {
					n++
				}
			}
			if n != tc.calls {
				t.Errorf("usergroups.users.list calls = %d; want %d (%q)", n, tc.calls, fake.calls)
			}
		})
	}
}

func TestGrantedScopes(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	answer := func(w http.ResponseWriter, header, body string, code int) {
		if header != "" {
			w.Header().Set("X-OAuth-Scopes", header)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "Bearer xoxb-good":
			answer(w, "commands, chat:write,files:write,,commands", checkAuthOK, http.StatusOK)
		case "Bearer xoxb-noheader":
			answer(w, "", checkAuthOK, http.StatusOK)
		case "Bearer xoxb-down":
			answer(w, "", "<html>", http.StatusServiceUnavailable)
		default:
			answer(w, "", checkErrJSON("invalid_auth"), http.StatusOK)
		}
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	got, err := GrantedScopes(context.Background(), hc, srv.URL+"/api/", "xoxb-good")
	if want := []string{"commands", "chat:write", "files:write"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("GrantedScopes(good) = %q, %v; want %q", got, err, want)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "POST /api/auth.test Bearer xoxb-good" {
		t.Errorf("request = %q; want POST /api/auth.test with the token as a bearer", seen)
	}
	mu.Unlock()

	for _, tc := range []struct {
		token string
		check func(error) bool
		want  string
	}{
		{"xoxb-bad-secret", func(err error) bool { return staffSlackErrCode(err) == "invalid_auth" }, "auth.test: invalid_auth"},
		{"xoxb-noheader", func(err error) bool { return err != nil }, "no X-OAuth-Scopes header"},
		{"xoxb-down", func(err error) bool {
			var sc slack.StatusCodeError
			return errors.As(err, &sc) && sc.Code == http.StatusServiceUnavailable
		}, "503"},
	} {
		got, err := GrantedScopes(context.Background(), hc, srv.URL+"/api", tc.token)
		if got != nil || !tc.check(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("GrantedScopes(%s) = %q, %v; want an error with %q", tc.token, got, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tc.token) {
			t.Errorf("GrantedScopes(%s) error shows the token: %v", tc.token, err)
		}
	}
}

func TestGrantedScopesAsSlackChecksFunc(t *testing.T) {
	fake := checkGood()
	fake.scopes = "commands,chat:write"
	srv := httptest.NewServer(fake)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	api := NewClient("xoxb-t", srv.URL+"/api/", WithHTTPClient(hc), WithRetryPolicy(clientTestPolicy()))
	scopes := func(ctx context.Context) ([]string, error) {
		return GrantedScopes(ctx, hc, srv.URL+"/api/", "xoxb-t")
	}
	checks := SlackChecks(context.Background(), api, scopes, checkGoodConfig())
	if c := checks[1]; c.Name != "slack scopes" || c.Verdict != doctor.VerdictFail || !strings.Contains(c.Detail, "missing files:write") {
		t.Errorf("slack scopes = %+v; want a failure naming files:write", c)
	}
}
