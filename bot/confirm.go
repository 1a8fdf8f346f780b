package bot

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/statefile"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Confirmation errors. Each says, in words safe to show, why a click did
// nothing; a click on a used or cancelled token wraps its error with who
// and when.
var (
	ErrTokenUnknown  = usererr.New(usererr.NotFound, "this button is not valid (unknown or forged): type the command again")
	ErrTokenExpired  = usererr.New(usererr.Invalid, "this confirmation has expired: type the command again")
	ErrTokenUsed     = usererr.New(usererr.Conflict, "this confirmation was already used")
	ErrNotRequester  = usererr.New(usererr.Forbidden, "only the person who asked can confirm or cancel")
	ErrTokenCanceled = usererr.New(usererr.Conflict, "this confirmation was cancelled")
	ErrAlertEnded    = usererr.New(usererr.Conflict, "this alert is resolved: its Restart button no longer works")
	// ErrTokenNotSaved: the store could not record a click, so it did
	// nothing (a token must stay single use across restarts of the bot).
	ErrTokenNotSaved = usererr.New(usererr.Unavailable, "the bot could not record this click, so nothing was done: try again")
)

// IsDeadToken reports whether err, from Take or Cancel, says that the token
// can never be used again (unknown, expired, used, cancelled, its alert
// resolved): its prompt should go. A refusal to the wrong user or a
// failure to save leaves the token usable.
func IsDeadToken(err error) bool {
	for _, dead := range []error{ErrTokenUnknown, ErrTokenExpired, ErrTokenUsed, ErrTokenCanceled, ErrAlertEnded} {
		if errors.Is(err, dead) {
			return true
		}
	}
	return false
}

// DefaultAlertTTL bounds the life of an alert's Restart token when nothing
// ends its alert: an alert's buttons work while its incident is open, and
// an incident the bot forgot must not leave a live button for ever.
const DefaultAlertTTL = 7 * 24 * time.Hour

// ConfirmFile is the name of the confirmation store's file in the state dir.
const ConfirmFile = "confirmations.json"

// alertTokenPrefix marks the tokens behind alerts' Restart buttons.
const alertTokenPrefix = "alert-"

// IsAlertToken reports whether token was issued for an alert's Restart
// button (its prefix says so, whether or not the store knows it): a front
// end then leaves the alert's message alone when the click does nothing,
// because the alert is not a prompt and its owner edits it.
func IsAlertToken(token string) bool { return strings.HasPrefix(token, alertTokenPrefix) }

// Pending is an action waiting for its confirmation.
type Pending struct {
	// Token is the secret behind the buttons. A store knows it only in
	// the process that issued it: the file keeps its hash.
	Token     string
	Command   Command
	Service   string // resolved service name
	Requester string // user ID; "" for an alert's token: any authorised user
	Channel   string
	AlertID   string // the alert whose Restart button this is, or ""
	Expires   time.Time
	// Cleanup is what a `sessions cleanup` prompt will end, as seen when
	// it was asked; nil when unknown (a prompt read back from the file).
	Cleanup *CleanupPlan
}

// CleanupPlan is what `sessions cleanup` will end: the browsers of the
// sessions that serve nobody, and whose they are ("failed session").
type CleanupPlan struct {
	Browsers []whatsapp.Browser
	Whose    string
}

// TokenStore keeps a ConfirmStore's token records across restarts of the
// bot, by the SHA-256 of each token (hex), each record an opaque JSON
// document. Its writes must not block: the store calls them with its lock
// held, on the path of a reply. recorder.Tokens implements it over the
// history database.
type TokenStore interface {
	// LoadTokens returns every record saved, by hash.
	LoadTokens() (map[string][]byte, error)
	// PutToken saves rec as the record of hash, replacing any.
	PutToken(hash string, rec []byte)
	// DeleteToken forgets the record of hash.
	DeleteToken(hash string)
}

// SharedTokens is a TokenStore that several hubs of a fleet share
// (fleet/tokens): a token issued by one can be settled on another, and
// Claim makes its use single across all of them. When ConfirmConfig.Tokens
// implements it, a token unknown here is looked up in it, and a use or a
// cancellation is claimed in it first.
type SharedTokens interface {
	// Lookup returns the record of hash another hub shared.
	Lookup(hash string) ([]byte, bool)
	// Claim wins the single use of hash: won is false when another use
	// (on any hub) won it before; err is set when it could not be asked.
	Claim(hash string) (won bool, err error)
	// Unclaim gives the use back (Restore).
	Unclaim(hash string) error
}

// ConfirmConfig configures a ConfirmStore.
type ConfirmConfig struct {
	// Path is the file that keeps the tokens across restarts of the bot
	// (in the state dir: ConfirmFile) when there is no Tokens; "" and no
	// Tokens keeps them in memory only, for a front end whose prompts die
	// with it (the console).
	Path string
	// Tokens, when set, keeps the tokens across restarts instead of Path
	// (set one, not both).
	Tokens TokenStore
	// TTL is how long a confirmation prompt's token lives.
	TTL time.Duration
	// AlertTTL bounds an alert token's life; 0 means DefaultAlertTTL.
	AlertTTL time.Duration
	// Clock reads the time; nil means the real clock.
	Clock  clockwork.Clock
	Logger zerolog.Logger
}

// ConfirmStore issues single-use confirmation tokens: 128 random bits,
// bound to one command, one service and one requester (a prompt's) or to
// one alert (an alert's Restart button), and expiring. Its map in memory is
// the authority: within one process a token is used once, exactly. With a
// Path every change is saved before it is acted on, so a token stays single
// use and bound across restarts of the bot; with Tokens every change is
// handed to the TokenStore, which saves it without waiting (a click is not
// held up by the disk), so only a crash of the bot in the instant before
// the change is written could let a used token be used once more after it.
// Either holds the SHA-256 of each token, never the token. A token once
// used, cancelled, expired or ended is remembered a while, so a second
// click is told what became of it.
type ConfirmStore struct {
	cfg    ConfirmConfig
	file   *statefile.File // nil: memory only, or Tokens
	tokens TokenStore      // nil: the file, or memory only
	shared SharedTokens    // tokens, when several hubs share them; else nil
	log    zerolog.Logger

	mu      sync.Mutex
	records map[string]*tokenRecord // by tokenHash
}

// endReason says why a token can no longer be used.
type endReason string

const (
	endUsed      endReason = "used"
	endCancelled endReason = "cancelled"
	endExpired   endReason = "expired"
	endResolved  endReason = "resolved" // its alert ended
)

// tokenRecord is one token, as saved.
type tokenRecord struct {
	Verb      Verb      `json:"verb"`
	Cleanup   bool      `json:"cleanup,omitempty"` // sessions cleanup
	Typed     string    `json:"typed,omitempty"`   // the service as typed ("" = the default)
	Service   string    `json:"service"`
	Requester string    `json:"requester,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Alert     string    `json:"alert,omitempty"`
	Expires   time.Time `json:"expires"`
	// Set when the token can no longer be used.
	Ended endReason `json:"ended,omitempty"`
	By    string    `json:"by,omitempty"` // who used or cancelled it
	At    time.Time `json:"at,omitzero"`

	token string // the token itself, in the process that issued it only
}

// confirmDoc is the file's document.
type confirmDoc struct {
	Version int                     `json:"version"`
	Tokens  map[string]*tokenRecord `json:"tokens"` // by SHA-256 of the token, hex
}

const confirmDocVersion = 1

// NewConfirmStore validates cfg and returns an empty store. It does no
// I/O: Load reads the file.
func NewConfirmStore(cfg ConfirmConfig) (*ConfirmStore, error) {
	if cfg.TTL <= 0 {
		return nil, errors.New("new confirmation store: the confirmation timeout must be positive")
	}
	if cfg.AlertTTL < 0 {
		return nil, errors.New("new confirmation store: the alert token lifetime must not be negative")
	}
	if cfg.AlertTTL == 0 {
		cfg.AlertTTL = DefaultAlertTTL
	}
	if cfg.Path != "" && cfg.Tokens != nil {
		return nil, errors.New("new confirmation store: both a file and a token store")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	s := &ConfirmStore{cfg: cfg, log: cfg.Logger, tokens: cfg.Tokens, records: make(map[string]*tokenRecord)}
	s.shared, _ = cfg.Tokens.(SharedTokens)
	if cfg.Path != "" {
		f, err := statefile.New(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("new confirmation store: %w", err)
		}
		s.file = f
	}
	return s, nil
}

// OpenConfirmStore is NewConfirmStore then Load: the store of a bot that
// starts, with the tokens of the one before it.
func OpenConfirmStore(cfg ConfirmConfig) (*ConfirmStore, error) {
	s, err := NewConfirmStore(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads the tokens saved by earlier processes (none without a Path or
// Tokens, or a file). Call it once, before the store is used. A file it can
// read but not decode (damaged, or another version's) is logged and set
// aside (renamed with UnreadableSuffix) and the store starts empty; a record
// of the TokenStore it cannot decode is logged and left out: such tokens
// are then refused as unknown, never run, so this is safe. It returns an
// error when the file or the TokenStore cannot be read, or the file set
// aside.
func (s *ConfirmStore) Load() error {
	if s.tokens != nil {
		return s.loadTokens()
	}
	if s.file == nil {
		return nil
	}
	var doc confirmDoc
	ok, err := s.file.Load(&doc)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax) || errors.As(err, &typ):
		return s.setAside(err)
	case err != nil:
		return fmt.Errorf("load confirmations: %w", err)
	case !ok:
		return nil
	case doc.Version != confirmDocVersion:
		return s.setAside(fmt.Errorf("%s has version %d; this bot reads version %d", s.file.Path(), doc.Version, confirmDocVersion))
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, r := range doc.Tokens {
		if r == nil || len(h) != sha256.Size*2 {
			continue
		}
		if _, ok := s.records[h]; !ok {
			s.records[h] = r
		}
	}
	s.sweep(now)
	return nil
}

// loadTokens is Load from the TokenStore.
func (s *ConfirmStore) loadTokens() error {
	recs, err := s.tokens.LoadTokens()
	if err != nil {
		return fmt.Errorf("load confirmations: %w", err)
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := 0
	for h, data := range recs {
		var r tokenRecord
		if err := json.Unmarshal(data, &r); err != nil || len(h) != sha256.Size*2 {
			bad++
			continue
		}
		if _, ok := s.records[h]; !ok {
			s.records[h] = &r
		}
	}
	if bad > 0 {
		s.log.Error().Int("records", bad).Msg("confirmation records unreadable: left out (their buttons will be refused)")
	}
	if forgot := s.sweep(now); len(forgot) > 0 {
		_ = s.saveLocked(nil, forgot)
	}
	return nil
}

// ReadConfirmFile returns the token records of the confirmation file at
// path (ConfirmFile in the state dir), each as a TokenStore keeps it, by
// hash; none when there is no file. It is for a one-time move of the file
// into a TokenStore.
func ReadConfirmFile(path string) (map[string][]byte, error) {
	f, err := statefile.New(path)
	if err != nil {
		return nil, fmt.Errorf("read confirmations: %w", err)
	}
	var doc struct {
		Version int                        `json:"version"`
		Tokens  map[string]json.RawMessage `json:"tokens"`
	}
	ok, err := f.Load(&doc)
	switch {
	case err != nil:
		return nil, fmt.Errorf("read confirmations: %w", err)
	case !ok:
		return nil, nil
	case doc.Version != confirmDocVersion:
		return nil, fmt.Errorf("read confirmations: %s has version %d; this bot reads version %d", path, doc.Version, confirmDocVersion)
	}
	out := make(map[string][]byte, len(doc.Tokens))
	for h, r := range doc.Tokens {
		if len(h) == sha256.Size*2 && len(r) > 0 && string(r) != "null" {
			out[h] = r
		}
	}
	return out, nil
}

// UnreadableSuffix is added to the name of a confirmation file Load could
// not decode.
const UnreadableSuffix = ".unreadable"

func (s *ConfirmStore) setAside(why error) error {
	aside := s.file.Path() + UnreadableSuffix
	if err := os.Rename(s.file.Path(), aside); err != nil {
		return fmt.Errorf("load confirmations: %w; set it aside: %w", why, err)
	}
	s.log.Error().Err(why).Str("moved_to", aside).
		Msg("confirmation file unreadable: set aside, starting with no tokens (the buttons of earlier prompts and alerts will be refused)")
	return nil
}

// Issue records a pending action for requester and returns it with its
// token, valid for the store's TTL. If the token cannot be saved it still
// works until the bot restarts; the failure is logged.
func (s *ConfirmStore) Issue(cmd Command, service, requester, channel string) Pending {
	now := s.cfg.Clock.Now()
	r := &tokenRecord{Verb: cmd.Verb, Cleanup: cmd.Cleanup, Typed: cmd.Service, Service: service, Requester: requester, Channel: channel,
		Expires: now.Add(s.cfg.TTL), token: newToken("")}
	s.add(r, now)
	return r.pending()
}

// AlertToken issues the token behind an alert's Restart button: bound to
// the alert alertID ("whatsapp-incident-7") and to service, usable once by
// any authorised user, while the alert is open (until EndAlert), and at
// most AlertTTL. If the token cannot be saved it still works until the bot
// restarts; the failure is logged.
func (s *ConfirmStore) AlertToken(alertID, service string) string {
	now := s.cfg.Clock.Now()
	r := &tokenRecord{Verb: VerbRestart, Typed: service, Service: service, Alert: alertID,
		Expires: now.Add(s.cfg.AlertTTL), token: newToken(alertTokenPrefix)}
	s.add(r, now)
	return r.token
}

func (s *ConfirmStore) add(r *tokenRecord, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	forgot := s.sweep(now)
	h := tokenHash(r.token)
	s.records[h] = r
	if err := s.saveLocked([]string{h}, forgot); err != nil {
		s.log.Error().Err(err).Str("service", r.Service).Str("alert", r.Alert).
			Msg("confirmation token not saved: it will not survive a restart of the bot")
	}
}

// EndAlert ends every token of the alert alertID: its incident is
// resolved, its buttons are gone. The monitor's Slack notifier calls it
// when it posts the resolution. It returns how many tokens it ended; the
// error says they could not be saved (they are ended in this process).
func (s *ConfirmStore) EndAlert(alertID string) (int, error) {
	if alertID == "" {
		return 0, nil
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ended []string
	for h, r := range s.records {
		if r.Alert == alertID && r.Ended == "" {
			r.Ended, r.At = endResolved, now
			ended = append(ended, h)
		}
	}
	n := len(ended)
	if n == 0 {
		return 0, nil
	}
	if err := s.saveLocked(ended, nil); err != nil {
		return n, fmt.Errorf("end the tokens of alert %s: %w", alertID, err)
	}
	return n, nil
}

// Take consumes token for by: it succeeds once, for the requester (anyone
// for an alert's token), before expiry. A click by someone else leaves the
// token usable by the requester. The returned Pending says what the token
// was for whenever the store knows it, also with an error.
func (s *ConfirmStore) Take(token string, by manager.Actor) (Pending, error) {
	return s.settle(token, by, endUsed)
}

// Restore makes token usable again after Take, when the action it was
// taken for could not begin (another action ran, the service already was as
// asked, a precondition failed): a click that did nothing must not spend
// an alert's single-use button. Only a used token is restored, and only
// once saved: when the store cannot save it, the token stays used.
func (s *ConfirmStore) Restore(token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := tokenHash(token)
	r, ok := s.records[h]
	if !ok {
		return ErrTokenUnknown
	}
	if r.Ended != endUsed {
		return fmt.Errorf("restore a confirmation: it is %s, not used", r.ended())
	}
	by, at := r.By, r.At
	if s.shared != nil {
		if err := s.shared.Unclaim(h); err != nil {
			return fmt.Errorf("restore a confirmation: %w", err)
		}
	}
	r.Ended, r.By, r.At = "", "", time.Time{}
	if err := s.saveLocked([]string{h}, nil); err != nil {
		r.Ended, r.By, r.At = endUsed, by, at
		return fmt.Errorf("restore a confirmation: %w", err)
	}
	return nil
}

// Cancel withdraws token (its requester only; an alert's token cannot be
// cancelled).
func (s *ConfirmStore) Cancel(token string, by manager.Actor) (Pending, error) {
	return s.settle(token, by, endCancelled)
}

func (s *ConfirmStore) settle(token string, by manager.Actor, then endReason) (Pending, error) {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := tokenHash(token)
	r, ok := s.records[h]
	if !ok {
		if r = s.lookupShared(h); r == nil {
			return Pending{}, ErrTokenUnknown
		}
		s.records[h] = r
	}
	p := r.pending()
	p.Token = token
	if r.Ended != "" {
		return p, r.endedError(now)
	}
	if !now.Before(r.Expires) {
		r.Ended, r.At = endExpired, r.Expires
		if err := s.saveLocked([]string{h}, nil); err != nil {
			s.log.Warn().Err(err).Msg("save an expired confirmation")
		}
		return p, ErrTokenExpired
	}
	if then == endCancelled && r.Alert != "" {
		return p, usererr.New(usererr.Invalid, "an alert's Restart button cannot be cancelled")
	}
	if r.Requester != "" && by.ID != r.Requester {
		return p, ErrNotRequester
	}
	if s.shared != nil {
		won, err := s.shared.Claim(h)
		if err != nil {
			return p, fmt.Errorf("%w (%s): %w", ErrTokenNotSaved, then, err)
		}
		if !won {
			// Another hub settled it: say how, when it has shared that.
			if other := s.lookupShared(h); other != nil && other.Ended != "" {
				s.records[h] = other
				return p, other.endedError(now)
			}
			return p, ErrTokenUsed
		}
	}
	r.Ended, r.By, r.At = then, by.String(), now
	if err := s.saveLocked([]string{h}, nil); err != nil {
		// Not recorded: not done. Otherwise a restart could let the
		// token run a second time.
		r.Ended, r.By, r.At = "", "", time.Time{}
		return p, fmt.Errorf("%w (%s): %w", ErrTokenNotSaved, then, err)
	}
	return p, nil
}

// Expired ends and returns the prompts whose tokens expired, so a front end
// can update their messages. Only the tokens issued by this process are
// returned: the prompts of an earlier one are not known here (a click on
// one is told it expired, and replaces it).
func (s *ConfirmStore) Expired() []Pending {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pending
	var changed []string
	for h, r := range s.records {
		if r.Ended == "" && !now.Before(r.Expires) {
			r.Ended, r.At = endExpired, r.Expires
			changed = append(changed, h)
			if r.token != "" && r.Alert == "" {
				out = append(out, r.pending())
			}
		}
	}
	if forgot := s.sweep(now); len(forgot) > 0 || len(changed) > 0 {
		if err := s.saveLocked(changed, forgot); err != nil {
			s.log.Warn().Err(err).Msg("save expired confirmations")
		}
	}
	return out
}

// sweep forgets the records of tokens ended long enough ago: a prompt's
// one TTL after it ended or expired, an alert's a day after. It returns
// the hashes it forgot.
func (s *ConfirmStore) sweep(now time.Time) []string {
	var forgot []string
	for h, r := range s.records {
		if r.Ended == "" && now.Before(r.Expires) {
			continue
		}
		keep := s.cfg.TTL
		if r.Alert != "" {
			keep = 24 * time.Hour
		}
		last := r.Expires
		if r.At.After(last) {
			last = r.At
		}
		if now.After(last.Add(keep)) {
			delete(s.records, h)
			forgot = append(forgot, h)
		}
	}
	return forgot
}

// lookupShared reads the record of hash another hub shared; nil when
// there is none (or no shared store). s.mu is held.
func (s *ConfirmStore) lookupShared(h string) *tokenRecord {
	if s.shared == nil {
		return nil
	}
	data, ok := s.shared.Lookup(h)
	if !ok {
		return nil
	}
	var r tokenRecord
	if err := json.Unmarshal(data, &r); err != nil {
		s.log.Warn().Err(err).Msg("a shared confirmation token is unreadable: refused")
		return nil
	}
	return &r
}

// saveLocked saves the records of the hashes put, which changed, and the
// forgetting of those of gone: through the TokenStore (it cannot fail: the
// TokenStore writes later), or by writing the whole file.
func (s *ConfirmStore) saveLocked(put, gone []string) error {
	if s.tokens != nil {
		for _, h := range put {
			data, err := json.Marshal(s.records[h])
			if err != nil {
				return fmt.Errorf("save confirmations: %w", err)
			}
			s.tokens.PutToken(h, data)
		}
		for _, h := range gone {
			s.tokens.DeleteToken(h)
		}
		return nil
	}
	if s.file == nil {
		return nil
	}
	if err := s.file.Save(confirmDoc{Version: confirmDocVersion, Tokens: s.records}); err != nil {
		return fmt.Errorf("save confirmations: %w", err)
	}
	return nil
}

func (r *tokenRecord) pending() Pending {
	return Pending{Token: r.token, Command: Command{Verb: r.Verb, Service: r.Typed, Cleanup: r.Cleanup}, Service: r.Service,
		Requester: r.Requester, Channel: r.Channel, AlertID: r.Alert, Expires: r.Expires}
}

// ended names the token's state, for errors.
func (r *tokenRecord) ended() string {
	if r.Ended == "" {
		return "open"
	}
	return string(r.Ended)
}

// endedError says what became of a token that cannot be used any more.
func (r *tokenRecord) endedError(now time.Time) error {
	when := human.Clock(r.At, now, nil)
	switch r.Ended {
	case endUsed:
		return usererr.Wrap(ErrTokenUsed, ErrTokenUsed.Code, "%s by %s at %s", ErrTokenUsed.Message, r.By, when)
	case endCancelled:
		return usererr.Wrap(ErrTokenCanceled, ErrTokenCanceled.Code, "%s by %s at %s", ErrTokenCanceled.Message, r.By, when)
	case endResolved:
		return ErrAlertEnded
	default:
		return ErrTokenExpired
	}
}

// newToken returns prefix and 128 random bits in hex.
func newToken(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms; if it
		// ever did, a predictable token would be worse than a crash.
		panic(fmt.Sprintf("confirm token: %v", err))
	}
	return prefix + hex.EncodeToString(b)
}

// tokenHash is the key of a token in the store and its file.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
