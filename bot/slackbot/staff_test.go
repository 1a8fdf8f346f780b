package slackbot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
)

// staffFakeAPI answers usergroups.users.list from a script: each group has
// a current answer the test sets; every call is recorded and announced.
type staffFakeAPI struct {
	mu      sync.Mutex
	answers map[string]staffAnswer
	calls   []string
	called  chan string   // one value per call, buffered
	block   chan struct{} // when set, calls wait on it or on ctx
}

type staffAnswer struct {
	members []string
	err     error
}

func newStaffFakeAPI() *staffFakeAPI {
	return &staffFakeAPI{answers: make(map[string]staffAnswer), called: make(chan string, 100)}
}

func (f *staffFakeAPI) set(group string, members []string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[group] = staffAnswer{members: members, err: err}
}

func (f *staffFakeAPI) GetUserGroupMembersContext(ctx context.Context, group string, _ ...slack.GetUserGroupMembersOption) ([]string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, group)
	a, ok := f.answers[group]
	block := f.block
	f.mu.Unlock()
	f.called <- group
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, slack.SlackErrorResponse{Err: errNoSuchSubteam}
	}
	return append([]string(nil), a.members...), a.err
}

func (f *staffFakeAPI) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// staffLog is a zerolog sink safe for the scheduler's goroutine.
type staffLog struct{ syncbuf.Buffer }

func (l *staffLog) count(substr string) int { return strings.Count(l.String(), substr) }

func newTestStaff(t *testing.T, cfg StaffConfig, api UsergroupsAPI, clock clockwork.Clock) (*Staff, *staffLog) {
	t.Helper()
	sink := &staffLog{}
	if clock == nil {
		clock = clockwork.NewFakeClock()
	}
	s, err := NewStaff(cfg, api, zerolog.New(sink), clock)
	if err != nil {
		t.Fatalf("NewStaff: %v", err)
	}
	return s, sink
}

// staffWant checks Authorize's verdict for one user and channel.
func staffWant(t *testing.T, s *Staff, userID, channel string, want error) {
	t.Helper()
	err := s.Authorize(context.Background(), manager.Actor{ID: userID, Name: "someone"}, channel)
	switch {
	case want == nil && err != nil:
		t.Errorf("Authorize(%s, %s) = %q; want allowed", userID, channel, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("Authorize(%s, %s) = %v; want %v", userID, channel, err, want)
	}
}

// staffWaitFor polls cond until it holds or 5 s pass.
func staffWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// staffWaitCall waits for the next API call and returns its group.
func staffWaitCall(t *testing.T, f *staffFakeAPI) string {
	t.Helper()
	select {
	case g := <-f.called:
		return g
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for a usergroups.users.list call (%d so far)", f.callCount())
		return ""
	}
}

func TestStaffUsersAllowedBeforeAnyRefresh(t *testing.T) {
	api := newStaffFakeAPI()
	s, _ := newTestStaff(t, StaffConfig{Users: []string{"U1"}, Usergroups: []string{"S1"}}, api, nil)
	staffWant(t, s, "U1", "C1", nil)
	staffWant(t, s, "U2", "C1", ErrNotStaff)
	staffWant(t, s, "", "C1", ErrNotStaff)
	if n := api.callCount(); n != 0 {
		t.Errorf("NewStaff and Authorize made %d API calls; want 0", n)
	}
}

func TestStaffRefusalText(t *testing.T) {
	for _, tc := range []struct {
		command, want string
	}{
		{"", "Sorry, only SanaSend on-call staff may use /sanasend. Ask in #ops to be added."},
		{"/wa", "Sorry, only SanaSend on-call staff may use /wa. Ask in #ops to be added."},
	} {
		s, _ := newTestStaff(t, StaffConfig{Users: []string{"U1"}, Command: tc.command}, nil, nil)
		err := s.Authorize(context.Background(), manager.Actor{ID: "U9"}, "C1")
		if err == nil || err.Error() != tc.want {
			t.Errorf("Command %q: Authorize(U9) = %v; want %q", tc.command, err, tc.want)
		}
		var r *StaffRefusal
		if !errors.As(err, &r) {
			t.Errorf("Authorize(U9) = %T; want *StaffRefusal", err)
		}
	}
}

func TestStaffGroupMemberRefusedBeforeFirstRefreshAllowedAfter(t *testing.T) {
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2", "U3"}, nil)
	s, _ := newTestStaff(t, StaffConfig{Usergroups: []string{"S1"}}, api, nil)
	staffWant(t, s, "U2", "C1", ErrNotStaff)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	staffWant(t, s, "U2", "C1", nil)
	staffWant(t, s, "U3", "C1", nil)
	staffWant(t, s, "U4", "C1", ErrNotStaff)
}

func TestStaffFailureBeforeFirstSuccessAllowsNobodyFromGroup(t *testing.T) {
	api := newStaffFakeAPI()
	api.set("S1", nil, errors.New("dial tcp: connection refused"))
	s, log := newTestStaff(t, StaffConfig{Users: []string{"U1"}, Usergroups: []string{"S1"}}, api, nil)
	if err := s.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh = nil; want the group's error")
	}
	staffWant(t, s, "U1", "C1", nil)
	staffWant(t, s, "U2", "C1", ErrNotStaff)
	if got := log.count("none of its members may use the bot until it is read"); got != 1 {
		t.Errorf("warnings about the unread group = %d; want 1\n%s", got, log)
	}
}

func TestStaffAPIFailureKeepsLastGoodList(t *testing.T) {
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2"}, nil)
	api.set("S2", []string{"U5"}, nil)
	clock := clockwork.NewFakeClock()
	s, log := newTestStaff(t, StaffConfig{Usergroups: []string{"S1", "S2"}}, api, clock)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	firstOK := clock.Now()
	clock.Advance(5 * time.Minute)

	api.set("S1", nil, slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"})
	api.set("S2", []string{"U6"}, nil) // the other group still refreshes
	err := s.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "user group S1") {
		t.Fatalf("Refresh = %v; want an error naming S1", err)
	}
	staffWant(t, s, "U2", "C1", nil)         // kept
	staffWant(t, s, "U6", "C1", nil)         // S2 replaced
	staffWant(t, s, "U5", "C1", ErrNotStaff) // S2 replaced
	if got := log.count("keeping its last good member list"); got != 1 {
		t.Errorf("warnings = %d; want 1\n%s", got, log)
	}
	if strings.Contains(log.String(), "xox") {
		t.Errorf("log mentions a token:\n%s", log)
	}

	st := s.Status()
	if len(st.Groups) != 2 {
		t.Fatalf("Status().Groups = %+v; want 2", st.Groups)
	}
	g := st.Groups[0]
	if g.ID != "S1" || !g.Resolved || g.Members != 1 || !g.LastSuccess.Equal(firstOK) ||
		!g.LastAttempt.Equal(clock.Now()) || !strings.Contains(g.LastError, "503") || g.PlanUpgradeRequired {
		t.Errorf("Status().Groups[0] = %+v; want S1 resolved, 1 member, success at %v, error 503", g, firstOK)
	}
	if g := st.Groups[1]; g.LastError != "" || !g.LastSuccess.Equal(clock.Now()) {
		t.Errorf("Status().Groups[1] = %+v; want a success now", g)
	}
}

func TestStaffMemberRemovedLosesAccessAfterNextRefresh(t *testing.T) {
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2", "U3"}, nil)
	s, _ := newTestStaff(t, StaffConfig{Usergroups: []string{"S1"}}, api, nil)
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	staffWant(t, s, "U3", "C1", nil)
	api.set("S1", []string{"U2"}, nil)
	staffWant(t, s, "U3", "C1", nil) // not yet: the list is as last read
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	staffWant(t, s, "U3", "C1", ErrNotStaff)
	staffWant(t, s, "U2", "C1", nil)

	api.set("S1", []string{}, nil) // an empty group is a successful read
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	staffWant(t, s, "U2", "C1", ErrNotStaff)
	if g := s.Status().Groups[0]; !g.Resolved || g.Members != 0 {
		t.Errorf("Status().Groups[0] = %+v; want resolved with 0 members", g)
	}
}

func TestStaffPlanUpgradeRequired(t *testing.T) {
	api := newStaffFakeAPI()
	planErr := slack.SlackErrorResponse{Err: "plan_upgrade_required"}
	api.set("S1", nil, planErr)
	api.set("S2", nil, planErr)
	s, log := newTestStaff(t, StaffConfig{Users: []string{"U1"}, Usergroups: []string{"S1", "S2"}}, api, nil)
	for i := 1; i <= 2; i++ {
		err := s.Refresh(context.Background())
		if staffSlackErrCode(err) != "plan_upgrade_required" {
			t.Fatalf("Refresh = %v; want plan_upgrade_required", err)
		}
		// One clear error per refresh, not one per group.
		if got := log.count("need a paid Slack plan"); got != i {
			t.Errorf("after refresh %d: plan errors logged = %d; want %d\n%s", i, got, i, log)
		}
	}
	if !strings.Contains(log.String(), "slack.staff.users works on every plan") ||
		!strings.Contains(log.String(), `"level":"error"`) {
		t.Errorf("log does not explain the paid plan at error level:\n%s", log)
	}
	// The workspace's answer is the same for every group: asked once per refresh.
	if n := api.callCount(); n != 2 {
		t.Errorf("API calls = %d; want 2 (one per refresh)", n)
	}
	staffWant(t, s, "U1", "C1", nil)
	for _, g := range s.Status().Groups {
		if !g.PlanUpgradeRequired || g.Resolved || g.LastError != "plan_upgrade_required" {
			t.Errorf("Status group %+v; want plan_upgrade_required, unresolved", g)
		}
	}
}

func TestStaffAllowedChannels(t *testing.T) {
	s, _ := newTestStaff(t, StaffConfig{Users: []string{"U1"}, AllowedChannels: []string{"C1", "D2"}}, nil, nil)
	for _, tc := range []struct {
		user, channel string
		want          error
	}{
		{"U1", "C1", nil},
		{"U1", "D2", nil},                  // a DM that is listed
		{"U1", "C9", ErrChannelNotAllowed}, // another channel
		{"U1", "D9", ErrChannelNotAllowed}, // a DM that is not listed
		{"U1", "", ErrChannelNotAllowed},   // unknown channel
		{"U9", "C1", ErrNotStaff},          // not staff, allowed channel
		{"U9", "C9", ErrNotStaff},          // not staff is said first
	} {
		staffWant(t, s, tc.user, tc.channel, tc.want)
	}
	err := s.Authorize(context.Background(), manager.Actor{ID: "U1"}, "C9")
	if want := "Sorry, /sanasend may only be used in <#C1> or <#D2>."; err == nil || err.Error() != want {
		t.Errorf("Authorize(U1, C9) = %v; want %q", err, want)
	}

	open, _ := newTestStaff(t, StaffConfig{Users: []string{"U1"}}, nil, nil)
	staffWant(t, open, "U1", "D77", nil) // no allowed_channels: anywhere
}

func TestStaffChannelList(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"C1"}, "<#C1>"},
		{[]string{"C1", "C2"}, "<#C1> or <#C2>"},
		{[]string{"C1", "C2", "C1", "G3"}, "<#C1>, <#C2> or <#G3>"},
	} {
		if got := staffChannelList(tc.ids); got != tc.want {
			t.Errorf("staffChannelList(%q) = %q; want %q", tc.ids, got, tc.want)
		}
	}
}

func TestStaffEmptyIsNobody(t *testing.T) {
	s, log := newTestStaff(t, StaffConfig{}, nil, nil)
	staffWant(t, s, "U1", "C1", ErrNotStaff)
	if !strings.Contains(log.String(), "nobody may use the bot") {
		t.Errorf("no warning about an empty staff list:\n%s", log)
	}
	if err := s.Start(context.Background()); err != nil { // nothing to schedule
		t.Fatalf("Start: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestNewStaffValidates(t *testing.T) {
	api := newStaffFakeAPI()
	for _, tc := range []struct {
		name string
		cfg  StaffConfig
		api  UsergroupsAPI
		want string
	}{
		{"groups without API", StaffConfig{Usergroups: []string{"S1"}}, nil, "no Slack API client"},
		{"refresh too short", StaffConfig{Refresh: time.Millisecond}, api, "at least 1s"},
		{"negative refresh", StaffConfig{Refresh: -time.Minute}, api, "at least 1s"},
		{"empty user", StaffConfig{Users: []string{"U1", " "}}, api, "users[1] is empty"},
		{"empty group", StaffConfig{Usergroups: []string{""}}, api, "usergroups[0] is empty"},
		{"empty channel", StaffConfig{AllowedChannels: []string{""}}, api, "allowed_channels[0] is empty"},
	} {
		_, err := NewStaff(tc.cfg, tc.api, zerolog.Nop(), clockwork.NewFakeClock())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewStaff = %v; want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestStaffSchedulerRefreshesEveryFiveMinutes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2"}, nil)
	clock := clockwork.NewFakeClock()
	s, _ := newTestStaff(t, StaffConfig{Usergroups: []string{"S1"}}, api, clock)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop()
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start = nil; want an error")
	}
	// staffAwaitTimer waits until the scheduler has set the next run's timer
	// on the fake clock.
	staffAwaitTimer := func(run int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("after run %d the scheduler set no timer: %v", run, err)
		}
	}

	// First run at once, without moving the clock.
	staffWaitCall(t, api)
	staffWaitFor(t, "the first refresh to land", func() bool { return s.Status().Groups[0].Resolved })
	staffWant(t, s, "U2", "C1", nil)

	api.set("S1", []string{"U3"}, nil)
	for run := 2; run <= 3; run++ {
		staffAwaitTimer(run - 1)
		clock.Advance(DefaultStaffRefresh - time.Second)
		if n := api.callCount(); n != run-1 {
			t.Fatalf("%s after run %d: %d calls; want %d", DefaultStaffRefresh-time.Second, run-1, n, run-1)
		}
		// Past the due time, as a real clock would be by the time the run is
		// rescheduled (a frozen clock exactly at the due instant can make
		// gocron schedule the same instant twice).
		clock.Advance(time.Second + time.Millisecond)
		staffWaitCall(t, api)
	}
	staffWaitFor(t, "the new member list", func() bool {
		return s.Authorize(context.Background(), manager.Actor{ID: "U3"}, "C1") == nil
	})
	staffWant(t, s, "U2", "C1", ErrNotStaff)
	staffAwaitTimer(3)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := api.callCount(); n != 3 {
		t.Errorf("API calls = %d; want 3 (now, +5m, +10m)", n)
	}
}

func TestStaffStopCancelsRefreshInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	api := newStaffFakeAPI()
	api.block = make(chan struct{}) // never released: only ctx ends the call
	s, _ := newTestStaff(t, StaffConfig{Usergroups: []string{"S1"}}, api, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	staffWaitCall(t, api)
	began := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("Stop took %s with a refresh in flight; want it cancelled", took)
	}
	if g := s.Status().Groups[0]; g.LastError != "" || !g.LastAttempt.IsZero() {
		t.Errorf("a cancelled refresh was recorded as an attempt: %+v", g)
	}
	if err := s.Stop(); err != nil { // twice is fine
		t.Errorf("second Stop: %v", err)
	}
}

func TestStaffStartStopsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2"}, nil)
	clock := clockwork.NewFakeClock()
	s, _ := newTestStaff(t, StaffConfig{Usergroups: []string{"S1"}}, api, clock)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	staffWaitCall(t, api)
	cancel()
	clock.Advance(time.Hour)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := api.callCount(); n != 1 {
		t.Errorf("API calls after the context ended = %d; want 1", n)
	}
}

func TestStaffConcurrentAuthorizeAndRefresh(t *testing.T) {
	api := newStaffFakeAPI()
	api.set("S1", []string{"U2"}, nil)
	s, _ := newTestStaff(t, StaffConfig{Users: []string{"U1"}, Usergroups: []string{"S1"}}, api, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Authorize(context.Background(), manager.Actor{ID: "U1"}, "C1"); err != nil {
					t.Errorf("Authorize(U1) = %v", err)
					return
				}
				_ = s.Authorize(context.Background(), manager.Actor{ID: "U2"}, "C1")
				_ = s.Status()
			}
		}()
	}
	for i := range 50 {
		if i%2 == 0 {
			api.set("S1", []string{"U2"}, nil)
		} else {
			api.set("S1", nil, errors.New("connection reset"))
		}
		_ = s.Refresh(context.Background())
	}
	close(stop)
	wg.Wait()
	staffWant(t, s, "U2", "C1", nil) // the failures kept the last good list
}
