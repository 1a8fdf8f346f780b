package manager

// The health check: Health, GET <url>/health (Service.Health) and its answer
// (ParseHealth).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// maxHealthBody caps how much of a health answer is read: the real answer is
// about 100 bytes, and a confused service must not make the bot allocate.
const maxHealthBody = 64 << 10

// healthAnswer is the body of GET /health (SPEC.md section 6).
type healthAnswer struct {
	Success bool    `json:"success"`
	Status  string  `json:"status"`
	Uptime  float64 `json:"uptime"`
}

// ParseHealth interprets one answer of GET /health. It never fails: a bad
// answer is a Health with OK false and a Reason.
func ParseHealth(code int, body []byte) Health {
	h := Health{StatusCode: code}
	var a healthAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		if code != http.StatusOK {
			h.Reason = fmt.Sprintf("HTTP %d", code)
		} else {
			h.Reason = "bad JSON: " + human.CutBytes(err.Error(), 80)
		}
		return h
	}
	h.Status = a.Status
	if a.Uptime > 0 && a.Uptime < 1e10 {
		h.Uptime = time.Duration(a.Uptime * float64(time.Second))
	}
	switch {
	case code != http.StatusOK:
		h.Reason = fmt.Sprintf("HTTP %d", code)
		if a.Status != "" {
			h.Reason += ", status " + human.CutBytes(a.Status, 40)
		}
	case a.Status != "healthy":
		h.Reason = fmt.Sprintf("status %q", human.CutBytes(a.Status, 40))
	default:
		h.OK = true
	}
	return h
}

// checkHealth asks url (the service's /health) once, within timeout (real
// time: a fake clock would never end the request). Latency is read from
// clock.
func checkHealth(ctx context.Context, clock clockwork.Clock, client *http.Client, url string, timeout time.Duration) Health {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := clock.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Health{Reason: "bad health URL: " + err.Error()}
	}
	req.Header.Set("User-Agent", "sanasend-bot")
	resp, err := client.Do(req)
	if err != nil {
		return Health{Latency: clock.Since(start), Reason: describeDialError(err, timeout), Refused: isRefused(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	h := ParseHealth(resp.StatusCode, body)
	h.Latency = clock.Since(start)
	if err != nil && h.OK {
		h.OK = false
		h.Reason = describeDialError(err, timeout)
	}
	return h
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

func describeDialError(err error, timeout time.Duration) string {
	var netErr net.Error
	switch {
	case isRefused(err):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	default:
		return human.CutBytes(err.Error(), 120)
	}
}

// newHealthClient returns a client for loopback health checks: no proxy (an
// HTTP_PROXY in the bot's environment must not intercept 127.0.0.1), and a
// fresh connection for every check: a kept-alive connection to a service
// that just died answers EOF instead of "connection refused", which would
// call a dead service unhealthy.
func newHealthClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Health is the outcome of one GET <url>/health.
type Health struct {
	OK         bool          // 200 and status "healthy"
	StatusCode int           // 0 when no HTTP answer
	Status     string        // the "status" field of the answer
	Uptime     time.Duration // the service's own uptime, from the answer
	Latency    time.Duration
	// Reason explains a failure in words an on-call engineer reads at 3 a.m.:
	// "connection refused", "timeout after 5s", "HTTP 503", "bad JSON: ...".
	Reason string
	// Refused is true when nothing listens on the port.
	Refused bool
}

// State is the state this health check alone shows: healthy, stopped
// when nothing listens, unhealthy otherwise. Status refines it with the
// processes (a running process with a refused port is unhealthy).
func (h Health) State() State {
	switch {
	case h.OK:
		return StateHealthy
	case h.Refused:
		return StateStopped
	default:
		return StateUnhealthy
	}
}

// Health asks the service's health endpoint once.
//
// A healthy answer while no run is watched (one started outside the bot:
// by systemd or PM2 after their own restart, by hand) has the service
// looked for in the background, so that its next exit is seen at once.
func (s *Service) Health(ctx context.Context) Health {
	h := checkHealth(ctx, s.clock, s.client, s.HealthURL(), s.cfg.HealthTimeout)
	if h.OK {
		s.adoptInBackground()
	}
	return h
}
