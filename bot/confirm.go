package bot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Confirmation errors. Each says why a click did nothing.
var (
	ErrTokenUnknown  = errors.New("this confirmation is not valid (unknown or forged)")
	ErrTokenExpired  = errors.New("this confirmation has expired: type the command again")
	ErrTokenUsed     = errors.New("this confirmation was already used")
	ErrNotRequester  = errors.New("only the person who asked can confirm or cancel")
	ErrTokenCanceled = errors.New("this confirmation was cancelled")
)

// Pending is an action waiting for its requester's confirmation.
type Pending struct {
	Token     string
	Command   Command
	Service   string // resolved service name
	Requester string // user ID
	Channel   string
	Expires   time.Time
}

// spent remembers a token after use, so a second click is told what
// happened instead of "unknown".
type spent struct {
	err     error
	by      string
	at      time.Time
	expires time.Time
}

// ConfirmStore issues single-use confirmation tokens: 128 random bits,
// bound to one command, one service and one requester, valid for ttl.
type ConfirmStore struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	pending map[string]Pending
	spent   map[string]spent
}

// NewConfirmStore returns a store whose tokens live ttl.
func NewConfirmStore(ttl time.Duration, now func() time.Time) *ConfirmStore {
	if now == nil {
		now = time.Now
	}
	return &ConfirmStore{ttl: ttl, now: now, pending: make(map[string]Pending), spent: make(map[string]spent)}
}

// Issue records a pending action and returns it with its token.
func (s *ConfirmStore) Issue(cmd Command, service, requester, channel string) Pending {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms; if it
		// ever did, a predictable token would be worse than a crash.
		panic(fmt.Sprintf("confirm token: %v", err))
	}
	now := s.now()
	p := Pending{Token: hex.EncodeToString(b), Command: cmd, Service: service, Requester: requester,
		Channel: channel, Expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.pending[p.Token] = p
	return p
}

// IssueOpen records an action any authorised user may confirm, valid for
// ttl: the Restart button of an alert, whose confirmation is Slack's dialog.
func (s *ConfirmStore) IssueOpen(cmd Command, service string, ttl time.Duration) Pending {
	p := s.Issue(cmd, service, "", "")
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Expires = s.now().Add(ttl)
	s.pending[p.Token] = p
	return p
}

// Take consumes the token for user: it succeeds once, for the requester,
// before expiry. A click by someone else leaves the token usable by the
// requester.
func (s *ConfirmStore) Take(token, user string) (Pending, error) {
	return s.settle(token, user, ErrTokenUsed)
}

// Cancel withdraws the token (requester only).
func (s *ConfirmStore) Cancel(token, user string) (Pending, error) {
	return s.settle(token, user, ErrTokenCanceled)
}

func (s *ConfirmStore) settle(token, user string, then error) (Pending, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[token]
	if !ok {
		if sp, ok := s.spent[token]; ok {
			return Pending{}, fmt.Errorf("%w (by %s at %s)", sp.err, sp.by, sp.at.Format("15:04:05"))
		}
		return Pending{}, ErrTokenUnknown
	}
	if !now.Before(p.Expires) {
		delete(s.pending, token)
		s.spent[token] = spent{err: ErrTokenExpired, by: "nobody", at: p.Expires, expires: p.Expires.Add(s.ttl)}
		return p, ErrTokenExpired
	}
	if p.Requester != "" && user != p.Requester {
		return p, ErrNotRequester
	}
	delete(s.pending, token)
	s.spent[token] = spent{err: then, by: user, at: now, expires: now.Add(s.ttl)}
	return p, nil
}

// Expired removes and returns the tokens that expired, so a front end can
// update their messages.
func (s *ConfirmStore) Expired() []Pending {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pending
	for t, p := range s.pending {
		if !now.Before(p.Expires) {
			out = append(out, p)
			delete(s.pending, t)
			s.spent[t] = spent{err: ErrTokenExpired, by: "nobody", at: p.Expires, expires: p.Expires.Add(s.ttl)}
		}
	}
	return out
}

func (s *ConfirmStore) sweep(now time.Time) {
	for t, sp := range s.spent {
		if now.After(sp.expires) {
			delete(s.spent, t)
		}
	}
}
