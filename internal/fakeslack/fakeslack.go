// Package fakeslack is a fake Slack for tests: an httptest server that
// answers the Web API methods the bot uses the way Slack does, records every
// call, and also serves response URLs, file uploads and a Socket Mode
// websocket. Tests script failures (FailNext) and the workspace it serves
// (users, channels, user groups, scopes).
//
// It is a test library, kept out of _test files because several packages
// import it; production code must not. It never sleeps to synchronise: the
// Wait methods block until the state they wait for changes, with a deadline,
// and fail the test with what the fake did see.
//
// Point slack-go at it:
//
//	s := fakeslack.New(t)
//	api := slack.New("xoxb-test", slack.OptionAPIURL(s.APIURL()))
//
// What slack-go v0.35 sends, and so what Call holds:
//   - almost every method is a form-encoded POST with the token in the
//     "token" field (Call.Form), including chat.postMessage, whose blocks
//     are one JSON-encoded form field ("blocks"; see Call.Blocks);
//   - apps.connections.open is a JSON POST with an empty body and the app
//     token in "Authorization: Bearer"; a few read methods are GETs with the
//     bearer header and the arguments in the query;
//   - an upload posts multipart/form-data (one "file" part, with the bearer
//     token) to the upload_url from files.getUploadURLExternal, and slack-go
//     refuses to send the token to a host other than the API's, so the fake
//     serves upload URLs on itself;
//   - response URLs get JSON without a token.
//
// Call.Token is the bearer token, else the "token" field, whichever the
// client sent.
package fakeslack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Identity of the workspace and the bot the fake serves.
const (
	TeamID    = "T0TEAM"
	TeamName  = "SanaSend"
	TeamURL   = "https://sanasend.slack.com/"
	BotUserID = "U0BOT"
	BotName   = "sanasend-bot"
	BotID     = "B0BOT"
	AppID     = "A0APP"

	// DefaultBotToken and DefaultAppToken are the tokens the fake accepts
	// until SetBotToken and SetAppToken say otherwise.
	DefaultBotToken = "xoxb-test"
	DefaultAppToken = "xapp-test"
)

// Server is a fake Slack. Its methods are safe for concurrent use; those
// that take a testing.TB fail the test with t.Fatalf and so must be called
// from the test's goroutine.
type Server struct {
	t         testing.TB
	srv       *httptest.Server
	started   time.Time
	wg        sync.WaitGroup // websocket goroutines: httptest stops tracking a hijacked connection
	closeOnce sync.Once

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever recorded state changes; wakes the Wait methods
	closed  bool
	seq     int // source of every id the fake hands out
	tsSeq   int

	botToken, appToken  string
	scopes              string
	groups              map[string][]string
	planUpgradeRequired bool
	users               map[string]string // id -> name
	channels            map[string]string // id -> name
	outsideChannels     map[string]outsideChannel
	failures            map[string][]Answer

	calls     []Call
	messages  map[string]bool // channel + " " + ts of every posted message
	uploads   []*upload       // in files.getUploadURLExternal order
	responses map[string]*responseURL

	tickets      map[string]bool // single-use websocket tickets from apps.connections.open
	sockets      map[*socket]bool
	current      *socket // the connection SendEnvelope writes to
	connections  int     // websocket connections accepted so far
	acks         []map[string]any
	pingInterval time.Duration
	refusal      string // apps.connections.open's error while set (RefuseSocket)
}

// New starts a fake Slack; t.Cleanup closes it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:            t,
		started:      time.Now(),
		changed:      make(chan struct{}),
		botToken:     DefaultBotToken,
		appToken:     DefaultAppToken,
		groups:       make(map[string][]string),
		users:        make(map[string]string),
		channels:     make(map[string]string),
		failures:     make(map[string][]Answer),
		messages:     make(map[string]bool),
		responses:    make(map[string]*responseURL),
		tickets:      make(map[string]bool),
		sockets:      make(map[*socket]bool),
		pingInterval: time.Second,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("POST /upload/{id}", s.serveUpload)
	mux.HandleFunc("POST /response/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /socket", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Close closes every websocket connection, waits for the fake's goroutines
// and shuts the server down. It is idempotent; New registers it with
// t.Cleanup.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		socks := make([]*socket, 0, len(s.sockets))
		for sock := range s.sockets {
			socks = append(socks, sock)
		}
		s.current = nil
		s.notifyLocked()
		s.mu.Unlock()
		for _, sock := range socks {
			_ = sock.conn.Close()
		}
		s.wg.Wait()
		s.srv.Close()
	})
}

// URL is the server's root, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL to pass to slack.OptionAPIURL; it ends
// with "/api/".
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// SetBotToken sets the token every Web API method but apps.connections.open
// requires (default DefaultBotToken). Another token gets invalid_auth, none
// not_authed.
func (s *Server) SetBotToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken = tok
}

// SetAppToken sets the app-level token apps.connections.open requires
// (default DefaultAppToken). The bot token gets not_allowed_token_type,
// another token invalid_auth.
func (s *Server) SetAppToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appToken = tok
}

// SetScopes sets the X-OAuth-Scopes header sent with every Web API answer
// (slack-go exposes it as AuthTestResponse.Header, and for any method
// through slack.OptionOnResponseHeaders). With no scopes set the header is
// absent.
func (s *Server) SetScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = strings.Join(scopes, ",")
}

// SetUsergroupMembers makes usergroups.users.list answer users for group
// (an id like "S0123"). Unknown groups get no_such_subteam.
func (s *Server) SetUsergroupMembers(group string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = append([]string{}, users...)
}

// SetPlanUpgradeRequired makes usergroups.users.list fail with
// plan_upgrade_required, as on a free workspace.
func (s *Server) SetPlanUpgradeRequired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.planUpgradeRequired = true
}

// SetUser adds a user for users.info (name is also the real and display
// name). Unknown users get user_not_found.
func (s *Server) SetUser(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = name
}

// SetChannel adds a channel, of which the bot is a member, for
// conversations.info. Unknown channels get channel_not_found.
func (s *Server) SetChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = name
}

// SetChannelWithoutBot adds a channel of which the bot is not a member,
// public or private, for conversations.info.
func (s *Server) SetChannelWithoutBot(id, name string, private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outsideChannels == nil {
		s.outsideChannels = make(map[string]outsideChannel)
	}
	s.outsideChannels[id] = outsideChannel{name: name, private: private}
}

type outsideChannel struct {
	name    string
	private bool
}

// Answer is a scripted answer for FailNext.
type Answer struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// RetryAfter, in seconds, sets the Retry-After header when positive.
	RetryAfter int
	// Error is the error code of the default body {"ok":false,"error":...}:
	// by default "ratelimited" for 429, "internal_error" for a 5xx and
	// "fatal_error" otherwise.
	Error string
	// Body replaces the default body when set.
	Body string
}

// FailNext scripts the next len(answers) requests for key, one answer each,
// after which normal service resumes; successive calls queue up. key is a
// Web API method ("chat.postMessage") or a URL from NewResponseURL.
// Scripted requests are recorded like any other.
func (s *Server) FailNext(key string, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[key] = append(s.failures[key], answers...)
}

// nextFailureLocked pops the scripted answer for key, if any.
func (s *Server) nextFailureLocked(key string) (Answer, bool) {
	q := s.failures[key]
	if len(q) == 0 {
		return Answer{}, false
	}
	s.failures[key] = q[1:]
	return q[0], true
}

func (a Answer) status() int {
	if a.Status == 0 {
		return http.StatusOK
	}
	return a.Status
}

func (a Answer) errorCode() string {
	switch {
	case a.Error != "":
		return a.Error
	case a.status() == http.StatusTooManyRequests:
		return "ratelimited"
	case a.status() >= 500:
		return "internal_error"
	default:
		return "fatal_error"
	}
}

// notifyLocked wakes every Wait method.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil blocks until ready, evaluated under s.mu after every change of
// state, returns true, or timeout passes. It reports whether ready did.
func (s *Server) waitUntil(timeout time.Duration, ready func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok := ready()
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			return ready()
		}
	}
}

// nextIDLocked returns a number no other id of this server has used.
func (s *Server) nextIDLocked() int {
	s.seq++
	return s.seq
}
