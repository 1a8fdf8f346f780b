package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// responseURLUses is how many posts Slack accepts per response URL.
const responseURLUses = 5

// responseURL is what was posted to one response URL.
type responseURL struct {
	posts []map[string]any
}

// NewResponseURL returns a new response URL on this server, like the one
// Slack gives with every slash command and interaction. It accepts five
// JSON posts, as Slack does; the sixth gets 404 "used_url". A body that is
// not a JSON object gets 400 "invalid_payload". FailNext(url, ...) scripts
// its answers.
func (s *Server) NewResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newResponseURLLocked()
}

func (s *Server) newResponseURLLocked() string {
	path := "/response/" + strconv.Itoa(s.nextIDLocked())
	s.responses[path] = &responseURL{}
	return s.srv.URL + path
}

// ResponseURLPosts returns the JSON bodies posted to u, in order.
func (s *Server) ResponseURLPosts(u string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.responseURLPostsLocked(u)
}

func (s *Server) responseURLPostsLocked(u string) []map[string]any {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil
	}
	if r := s.responses[parsed.Path]; r != nil {
		return append([]map[string]any(nil), r.posts...)
	}
	return nil
}

// WaitResponseURLPosts waits until at least n bodies have been posted to u
// and returns them all; on timeout it fails the test.
func (s *Server) WaitResponseURLPosts(t testing.TB, u string, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	var got []map[string]any
	if !s.waitUntil(timeout, func() bool {
		got = s.responseURLPostsLocked(u)
		return len(got) >= n
	}) {
		t.Fatalf("fakeslack: waited %v for %d posts to %s, got %d: %s", timeout, n, u, len(got), mustJSON(got))
	}
	return got
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	var post map[string]any
	jsonErr := json.Unmarshal(body, &post)
	if jsonErr == nil && post == nil {
		jsonErr = fmt.Errorf("null body")
	}

	s.mu.Lock()
	status, answer, retryAfter := http.StatusOK, `{"ok":true}`, 0
	target := s.responses[r.URL.Path]
	if a, ok := s.nextFailureLocked(s.srv.URL + r.URL.Path); ok {
		status, retryAfter, answer = a.status(), a.RetryAfter, a.Body
		if answer == "" {
			answer = string(mustJSON(fail(a.errorCode())))
		}
	} else {
		switch {
		case target == nil:
			status, answer = http.StatusNotFound, "invalid_url"
		case len(target.posts) >= responseURLUses:
			status, answer = http.StatusNotFound, "used_url"
		case jsonErr != nil:
			status, answer = http.StatusBadRequest, "invalid_payload"
		default:
			target.posts = append(target.posts, post)
			s.notifyLocked()
		}
	}
	s.mu.Unlock()

	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		s.t.Logf("fakeslack: POST %s -> %d %s", r.URL.Path, status, answer)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}
