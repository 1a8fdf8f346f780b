package slackbot

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// RetryPolicy is how a Web API call is retried. Only failures that say
// "try again" are retried: HTTP 429 (after the Retry-After Slack sends), any
// 5xx, and a connection that was refused, reset or closed (slack-go's
// built-in handlers). A 4xx other than 429 and an answer with "ok": false
// (invalid_auth, channel_not_found, ...) are final: they are our bug or
// Slack's "no", and asking again changes nothing.
type RetryPolicy struct {
	// MaxRetries is how many times a call is repeated after the first
	// attempt; 0 disables retries.
	MaxRetries int
	// BackoffInitial is the wait before the first retry of a 5xx or a
	// connection error; it doubles at each retry, up to BackoffMax, plus a
	// random [0, BackoffJitter).
	BackoffInitial, BackoffMax, BackoffJitter time.Duration
	// RetryAfterDefault is the wait after a 429 without a (valid)
	// Retry-After header; slack-go never waits less than 1 s after a 429.
	RetryAfterDefault time.Duration
	// RetryAfterJitter adds a random [0, RetryAfterJitter) to the wait after
	// a 429, so that callers limited together do not come back together.
	RetryAfterJitter time.Duration
	// RetryAfterMax is the longest Retry-After waited for inside a call.
	// When Slack asks for more, the call returns *slack.RateLimitedError at
	// once (its RetryAfter says how long) so that the caller, e.g. the alert
	// outbox, reschedules the message instead of holding a goroutine.
	RetryAfterMax time.Duration
}

// DefaultRetryPolicy is the policy of every Web API call the bot makes:
//
//   - 4 retries (5 attempts): a Slack incident lasting seconds is ridden out,
//     one lasting minutes is reported to the caller, who knows whether to
//     queue (alerts) or tell the user (commands).
//   - 5xx and connection errors: 0.5 s, 1 s, 2 s, 4 s (7.5 s in all, plus up
//     to 250 ms jitter each): within the window in which an operator still
//     waits for an answer, and spaced enough not to hammer a Slack that is
//     struggling. BackoffMax 30 s only matters if MaxRetries is raised.
//   - 429: exactly the Retry-After Slack sends (Slack always sends it; 30 s
//     when it is missing), plus up to 1 s jitter, as long as it is at most
//     2 minutes. Slack's per-method limits are per minute, so a longer ask
//     means the workspace is throttled hard: better to hand the caller the
//     RateLimitedError than to sleep for minutes on its behalf.
//
// A retry can repeat a chat.postMessage that Slack had processed before the
// connection broke: a duplicated alert is better than a lost one.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:        4,
		BackoffInitial:    500 * time.Millisecond,
		BackoffMax:        30 * time.Second,
		BackoffJitter:     250 * time.Millisecond,
		RetryAfterDefault: 30 * time.Second,
		RetryAfterJitter:  time.Second,
		RetryAfterMax:     2 * time.Minute,
	}
}

// clientTimeout bounds one HTTP attempt (connect, request, answer) of the
// default http.Client. A timed-out attempt is not retried: it may have been
// processed.
const clientTimeout = 30 * time.Second

// ClientOption configures NewClient.
type ClientOption func(*clientOptions)

type clientOptions struct {
	httpClient *http.Client
	retry      RetryPolicy
	appToken   string
}

// WithHTTPClient makes the client send its requests with c (tests, proxies).
// The default is an http.Client with a 30 s timeout per attempt.
func WithHTTPClient(c *http.Client) ClientOption {
	return func(o *clientOptions) {
		if c != nil {
			o.httpClient = c
		}
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy (tests make the waits tiny).
func WithRetryPolicy(p RetryPolicy) ClientOption {
	return func(o *clientOptions) { o.retry = p }
}

// WithAppToken sets the app-level token (xapp-...) that Socket Mode needs to
// open its connection.
func WithAppToken(token string) ClientOption {
	return func(o *clientOptions) { o.appToken = token }
}

// NewClient returns a slack-go client for token that honours apiURL ("" =
// Slack's) and retries 429 (honouring Retry-After), 5xx and connection
// errors with capped exponential backoff, at most DefaultRetryPolicy's 5
// attempts; it never retries a 4xx other than 429 (those are our bugs or
// Slack's "no"). See RetryPolicy. It makes no network call.
func NewClient(token, apiURL string, opts ...ClientOption) *slack.Client {
	o := clientOptions{httpClient: &http.Client{Timeout: clientTimeout}, retry: DefaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	sopts := []slack.Option{
		slack.OptionAPIURL(clientAPIURL(apiURL)),
		// The retry wrapper must come after the HTTP client it wraps.
		slack.OptionHTTPClient(o.httpClient),
		slack.OptionRetryConfig(o.retry.slackConfig()),
	}
	if o.appToken != "" {
		sopts = append(sopts, slack.OptionAppLevelToken(o.appToken))
	}
	return slack.New(token, sopts...)
}

// clientAPIURL returns Slack's API URL for "", else apiURL ending in "/" as
// slack-go appends method names to it.
func clientAPIURL(apiURL string) string {
	if apiURL == "" {
		return slack.APIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	return apiURL
}

// slackConfig turns p into slack-go's retry configuration: its built-in
// handlers for connection errors, 429 (bounded by RetryAfterMax) and 5xx.
func (p RetryPolicy) slackConfig() slack.RetryConfig {
	cfg := slack.RetryConfig{
		MaxRetries:         p.MaxRetries,
		RetryAfterDuration: p.RetryAfterDefault,
		RetryAfterJitter:   p.RetryAfterJitter,
		BackoffInitial:     p.BackoffInitial,
		BackoffMax:         p.BackoffMax,
		BackoffJitter:      p.BackoffJitter,
	}
	if cfg.MaxRetries <= 0 {
		return slack.RetryConfig{} // slack-go does not wrap the client at all
	}
	var rateLimit slack.RetryHandler = slack.NewRateLimitErrorRetryHandler(cfg)
	if p.RetryAfterMax > 0 {
		rateLimit = clientRetryAfterCap{next: rateLimit, max: p.RetryAfterMax}
	}
	cfg.Handlers = []slack.RetryHandler{
		slack.NewConnectionErrorRetryHandler(),
		rateLimit,
		slack.NewServerErrorRetryHandler(cfg),
	}
	return cfg
}

// clientRetryAfterCap refuses to wait after a 429 whose Retry-After is over
// max; otherwise next (slack-go's 429 handler) decides.
type clientRetryAfterCap struct {
	next slack.RetryHandler
	max  time.Duration
}

func (h clientRetryAfterCap) ShouldRetry(state *slack.RetryState, req *http.Request, resp *http.Response, err error) (bool, time.Duration) {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		// Compared in seconds: a huge value must not overflow a Duration.
		if sec, perr := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("Retry-After")), 10, 64); perr == nil &&
			sec > int64(h.max/time.Second) {
			return false, 0
		}
	}
	return h.next.ShouldRetry(state, req, resp, err)
}
