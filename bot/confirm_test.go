package bot

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

func newFakeClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC))
}

// memTokens is a TokenStore in memory, shared by the stores of a test as
// a database is by bot processes. It keeps copies: a caller's buffer is
// its own.
type memTokens struct {
	mu   sync.Mutex
	recs map[string][]byte
}

var _ TokenStore = (*memTokens)(nil)

func (m *memTokens) LoadTokens() (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.recs))
	for h, r := range m.recs {
		out[h] = append([]byte(nil), r...)
	}
	return out, nil
}

func (m *memTokens) PutToken(hash string, rec []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[string][]byte)
	}
	m.recs[hash] = append([]byte(nil), rec...)
}

func (m *memTokens) DeleteToken(hash string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, hash)
}

// durableConfig returns how a store of kind ("file" or "tokens") keeps its
// tokens, the same for every store of the test.
func durableConfig(t *testing.T, kind string) func(*ConfirmConfig) {
	switch kind {
	case "file":
		path := filepath.Join(t.TempDir(), "state", ConfirmFile)
		return func(c *ConfirmConfig) { c.Path = path }
	case "tokens":
		tokens := &memTokens{}
		return func(c *ConfirmConfig) { c.Tokens = tokens }
	}
	return func(*ConfirmConfig) {}
}

// storeKinds runs a test on a memory store, one with a file and one with a
// TokenStore: the same rules hold for all.
func storeKinds(t *testing.T, test func(t *testing.T, open func() *ConfirmStore, clock *clockwork.FakeClock)) {
	for _, kind := range []string{"memory", "file", "tokens"} {
		t.Run(kind, func(t *testing.T) {
			clock := newFakeClock()
			durable := durableConfig(t, kind)
			open := func() *ConfirmStore {
				t.Helper()
				cfg := ConfirmConfig{TTL: 2 * time.Minute, Clock: clock}
				durable(&cfg)
				s, err := OpenConfirmStore(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			test(t, open, clock)
		})
	}
}

func TestConfirmTokenIsSingleUseAndBound(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, _ *clockwork.FakeClock) {
		s := open()
		cmd := Command{Verb: VerbRestart}
		p := s.Issue(cmd, "whatsapp", alice.ID, "C1")
		if len(p.Token) != 32 {
			t.Fatalf("token %q: want 128 bits in hex", p.Token)
		}
		if other := s.Issue(cmd, "whatsapp", alice.ID, "C1"); other.Token == p.Token {
			t.Fatal("two tokens are equal")
		}
		if _, err := s.Take(p.Token, bob); !errors.Is(err, ErrNotRequester) {
			t.Errorf("take by bob = %v; want ErrNotRequester", err)
		}
		got, err := s.Take(p.Token, alice)
		if err != nil || got.Command != cmd || got.Service != "whatsapp" || got.Requester != alice.ID {
			t.Fatalf("take by alice = %+v, %v", got, err)
		}
		_, err = s.Take(p.Token, alice)
		if !errors.Is(err, ErrTokenUsed) || !strings.Contains(usererr.Message(err), "already used by alice at 03:00:00") {
			t.Errorf("second take = %v (%q); want ErrTokenUsed by alice at 03:00:00", err, usererr.Message(err))
		}
		if _, err := s.Take(strings.Repeat("0", 32), alice); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("forged take = %v; want ErrTokenUnknown", err)
		}
	})
}

func TestConfirmTokenExpires(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, clock *clockwork.FakeClock) {
		s := open()
		p := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
		q := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
		clock.Advance(2*time.Minute - time.Second)
		if _, err := s.Take(q.Token, alice); err != nil {
			t.Fatalf("take just before expiry: %v", err)
		}
		clock.Advance(time.Second)
		if _, err := s.Take(p.Token, alice); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("take at expiry = %v; want ErrTokenExpired", err)
		}
		if _, err := s.Take(p.Token, alice); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("take after expiry = %v; want ErrTokenExpired again", err)
		}
	})
}

func TestConfirmExpiredAreReportedOnce(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, clock *clockwork.FakeClock) {
		s := open()
		p := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
		s.AlertToken("whatsapp-incident-1", "whatsapp")
		if got := s.Expired(); len(got) != 0 {
			t.Fatalf("expired before time: %v", got)
		}
		clock.Advance(2 * time.Minute)
		if got := s.Expired(); len(got) != 1 || got[0].Token != p.Token {
			t.Fatalf("expired = %v; want the one prompt", got)
		}
		if got := s.Expired(); len(got) != 0 {
			t.Errorf("expired twice: %v", got)
		}
	})
}

func TestConfirmCancelThenTake(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, _ *clockwork.FakeClock) {
		s := open()
		p := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
		if _, err := s.Cancel(p.Token, bob); !errors.Is(err, ErrNotRequester) {
			t.Errorf("cancel by bob = %v", err)
		}
		if _, err := s.Cancel(p.Token, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Take(p.Token, alice); !errors.Is(err, ErrTokenCanceled) {
			t.Errorf("take after cancel = %v; want ErrTokenCanceled", err)
		}
		alert := s.AlertToken("whatsapp-incident-1", "whatsapp")
		if _, err := s.Cancel(alert, bob); err == nil || IsDeadToken(err) {
			t.Errorf("cancel of an alert's token = %v; want a refusal that leaves it usable", err)
		}
		if _, err := s.Take(alert, bob); err != nil {
			t.Errorf("take of the alert's token after a refused cancel = %v", err)
		}
	})
}

func TestConfirmConcurrentClicksTakeOnce(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, _ *clockwork.FakeClock) {
		s := open()
		p := s.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1")
		var ok atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := s.Take(p.Token, alice); err == nil {
					ok.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("%d of 50 concurrent clicks succeeded; want exactly 1", ok.Load())
		}
	})
}

// TestConfirmTokensSurviveARestart: each step runs on a new store over the
// same file (or TokenStore), as a new bot process would.
func TestConfirmTokensSurviveARestart(t *testing.T) {
	for _, kind := range []string{"file", "tokens"} {
		t.Run(kind, func(t *testing.T) { confirmTokensSurviveARestart(t, durableConfig(t, kind)) })
	}
}

func confirmTokensSurviveARestart(t *testing.T, durable func(*ConfirmConfig)) {
	clock := newFakeClock()
	restart := func() *ConfirmStore {
		t.Helper()
		cfg := ConfirmConfig{TTL: 2 * time.Minute, Clock: clock}
		durable(&cfg)
		s, err := OpenConfirmStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := restart()
	prompt := first.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1")
	late := first.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
	cancelled := first.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
	if _, err := first.Cancel(cancelled.Token, alice); err != nil {
		t.Fatal(err)
	}
	alert := first.AlertToken("whatsapp-incident-7", "whatsapp")
	ended := first.AlertToken("whatsapp-incident-8", "whatsapp")

	second := restart()
	if _, err := second.Take(prompt.Token, bob); !errors.Is(err, ErrNotRequester) {
		t.Errorf("after a restart, take by bob = %v; want ErrNotRequester", err)
	}
	got, err := second.Take(prompt.Token, alice)
	if err != nil || got.Command.Verb != VerbRestart || got.Service != "whatsapp" || got.Channel != "C1" {
		t.Fatalf("after a restart, take by alice = %+v, %v; want the restart of whatsapp", got, err)
	}
	if _, err := second.Take(cancelled.Token, alice); !errors.Is(err, ErrTokenCanceled) {
		t.Errorf("after a restart, the cancelled token = %v; want ErrTokenCanceled", err)
	}
	if n, err := second.EndAlert("whatsapp-incident-8"); n != 1 || err != nil {
		t.Errorf("EndAlert = %d, %v; want 1 token ended", n, err)
	}

	clock.Advance(2 * time.Minute)
	third := restart()
	if _, err := third.Take(prompt.Token, alice); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("after a second restart, the used token = %v; want ErrTokenUsed", err)
	}
	if _, err := third.Take(late.Token, alice); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("after a restart, the expired token = %v; want ErrTokenExpired", err)
	}
	if _, err := third.Take(strings.Repeat("ab", 16), alice); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("after a restart, a forged token = %v; want ErrTokenUnknown", err)
	}
	if _, err := third.Take(ended, bob); !errors.Is(err, ErrAlertEnded) {
		t.Errorf("after a restart, the token of a resolved alert = %v; want ErrAlertEnded", err)
	}
	p, err := third.Take(alert, bob)
	if err != nil || p.AlertID != "whatsapp-incident-7" || p.Command.Verb != VerbRestart || p.Service != "whatsapp" {
		t.Fatalf("after a restart, the open alert's token = %+v, %v; want its restart", p, err)
	}
	if _, err := restart().Take(alert, alice); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("the alert's token used again after a restart = %v; want ErrTokenUsed", err)
	}
}

// TestConfirmAlertTokenLivesWhileItsAlertIsOpen: no 24-hour limit; the
// alert's end ends it; the safety limit still holds.
func TestConfirmAlertTokenLivesWhileItsAlertIsOpen(t *testing.T) {
	clock := newFakeClock()
	s, err := NewConfirmStore(ConfirmConfig{TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	open := s.AlertToken("whatsapp-incident-1", "whatsapp")
	resolved := s.AlertToken("whatsapp-incident-2", "whatsapp")
	again := s.AlertToken("whatsapp-incident-2", "whatsapp") // a re-render after a restart
	forgotten := s.AlertToken("whatsapp-incident-3", "whatsapp")
	if !IsAlertToken(open) || IsAlertToken(s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1").Token) {
		t.Error("IsAlertToken does not tell an alert's token from a prompt's")
	}
	clock.Advance(36 * time.Hour)
	if n, err := s.EndAlert("whatsapp-incident-2"); n != 2 || err != nil {
		t.Errorf("EndAlert = %d, %v; want both tokens of the alert", n, err)
	}
	for _, tok := range []string{resolved, again} {
		if _, err := s.Take(tok, bob); !errors.Is(err, ErrAlertEnded) || !IsDeadToken(err) {
			t.Errorf("token of a resolved alert = %v; want ErrAlertEnded", err)
		}
	}
	if _, err := s.Take(open, bob); err != nil {
		t.Errorf("token of an alert open for 36h = %v; want it to work", err)
	}
	clock.Advance(DefaultAlertTTL)
	if _, err := s.Take(forgotten, bob); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("token of an alert nobody ended, after %s = %v; want ErrTokenExpired", DefaultAlertTTL, err)
	}
}

// TestConfirmFileHoldsNoToken: the file is 0600 (its dir 0700) and holds
// the tokens' hashes, never a token.
func TestConfirmFileHoldsNoToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, ConfirmFile)
	s, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: 2 * time.Minute, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{
		s.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1").Token,
		s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1").Token,
		s.AlertToken("whatsapp-incident-1", "whatsapp"),
	}
	if _, err := s.Take(tokens[1], alice); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s = %v; want 0600", path, got)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("mode of the state dir = %v, %v; want 0700", di.Mode().Perm(), err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tokens map[string]json.RawMessage `json:"tokens"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tokens) != len(tokens) {
		t.Errorf("file holds %d tokens; want %d", len(doc.Tokens), len(tokens))
	}
	for _, tok := range tokens {
		hex := strings.TrimPrefix(tok, alertTokenPrefix)
		if strings.Contains(string(data), hex) {
			t.Errorf("the file holds the token %s:\n%s", tok, data)
		}
		if _, ok := doc.Tokens[tokenHash(tok)]; !ok {
			t.Errorf("the file lacks the hash of %s", tok)
		}
	}
}

// TestConfirmClickNotSavedIsNotDone: a click the store cannot record does
// nothing and leaves the token usable, so it can never run twice across a
// restart.
func TestConfirmClickNotSavedIsNotDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfirmFile)
	s, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: 2 * time.Minute, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1")
	// A directory where the temporary file goes: every save fails, even
	// for root.
	if err := os.Mkdir(path+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = s.Take(p.Token, alice)
	if !errors.Is(err, ErrTokenNotSaved) || IsDeadToken(err) || strings.Contains(usererr.Message(err), path) {
		t.Fatalf("take when the file cannot be written = %v (%q); want ErrTokenNotSaved without the path", err, usererr.Message(err))
	}
	if err := os.Remove(path + ".tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(p.Token, alice); err != nil {
		t.Errorf("take once the file can be written = %v; want it done", err)
	}
	again, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: 2 * time.Minute, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Take(p.Token, alice); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("after a restart = %v; want ErrTokenUsed", err)
	}
}

func TestNewConfirmStoreValidates(t *testing.T) {
	valid := ConfirmConfig{TTL: time.Minute}
	tests := []struct {
		name   string
		mutate func(*ConfirmConfig)
		ok     bool
	}{
		{"valid", func(*ConfirmConfig) {}, true},
		{"with a file", func(c *ConfirmConfig) { c.Path = "/nonexistent/dir/" + ConfirmFile }, true},
		{"with a token store", func(c *ConfirmConfig) { c.Tokens = &memTokens{} }, true},
		{"a file and a token store", func(c *ConfirmConfig) { c.Path, c.Tokens = "/x/"+ConfirmFile, &memTokens{} }, false},
		{"no ttl", func(c *ConfirmConfig) { c.TTL = 0 }, false},
		{"negative alert ttl", func(c *ConfirmConfig) { c.AlertTTL = -time.Hour }, false},
	}
	for _, tc := range tests {
		cfg := valid
		tc.mutate(&cfg)
		// No I/O: a path under a directory that does not exist is fine
		// until Load or the first save.
		_, err := NewConfirmStore(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewConfirmStore = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestConfirmUnreadableFileIsSetAside: a damaged file or another version's
// does not stop the bot; it is kept aside, and its tokens are refused.
func TestConfirmUnreadableFileIsSetAside(t *testing.T) {
	for name, content := range map[string]string{
		"another version": `{"version":99,"tokens":{}}`,
		"damaged":         `{"version":1,"tok`,
		"wrong shape":     `{"version":1,"tokens":[1,2]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ConfirmFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: time.Minute})
			if err != nil {
				t.Fatalf("open = %v; want the file set aside", err)
			}
			if aside, err := os.ReadFile(path + UnreadableSuffix); err != nil || string(aside) != content {
				t.Errorf("set aside: %q, %v; want the old content", aside, err)
			}
			if _, err := s.Take(strings.Repeat("ab", 16), alice); !errors.Is(err, ErrTokenUnknown) {
				t.Errorf("take = %v; want ErrTokenUnknown", err)
			}
			p := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
			again, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: time.Minute})
			if err != nil {
				t.Fatalf("reopen after a save = %v", err)
			}
			if _, err := again.Take(p.Token, alice); err != nil {
				t.Errorf("a token issued after the file was set aside, after a restart = %v; want it to work", err)
			}
		})
	}
}

// BenchmarkConfirmIssueTake: one prompt issued and confirmed, in memory
// and with the file (two atomic, synced writes).
func BenchmarkConfirmIssueTake(b *testing.B) {
	for _, kind := range []string{"memory", "file"} {
		b.Run(kind, func(b *testing.B) {
			path := ""
			if kind == "file" {
				path = filepath.Join(b.TempDir(), ConfirmFile)
			}
			s, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				p := s.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1")
				if _, err := s.Take(p.Token, alice); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConfirmTokenStoreHoldsHashes: the TokenStore gets each change of a
// record under the token's hash, never the token, and the forgetting of a
// record long ended.
func TestConfirmTokenStoreHoldsHashes(t *testing.T) {
	clock := newFakeClock()
	tokens := &memTokens{}
	s, err := OpenConfirmStore(ConfirmConfig{Tokens: tokens, TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Issue(Command{Verb: VerbRestart}, "whatsapp", alice.ID, "C1")
	alert := s.AlertToken("whatsapp-incident-1", "whatsapp")
	if _, err := s.Take(p.Token, alice); err != nil {
		t.Fatal(err)
	}
	recs, _ := tokens.LoadTokens()
	if len(recs) != 2 {
		t.Fatalf("records = %d; want 2", len(recs))
	}
	for h, r := range recs {
		if h != tokenHash(p.Token) && h != tokenHash(alert) {
			t.Errorf("record key %s is no token's hash", h)
		}
		if strings.Contains(string(r), p.Token) || strings.Contains(string(r), alert) || strings.Contains(h, p.Token) {
			t.Errorf("record %s = %s holds a token", h, r)
		}
	}
	if r := recs[tokenHash(p.Token)]; !strings.Contains(string(r), `"ended":"used"`) {
		t.Errorf("the used token's record = %s; want it used", r)
	}
	clock.Advance(5 * time.Minute) // the prompt's record is forgotten one TTL after it ended
	s.Expired()
	if recs, _ := tokens.LoadTokens(); len(recs) != 1 || recs[tokenHash(alert)] == nil {
		t.Errorf("records after the sweep = %d; want the alert's only", len(recs))
	}
}

// TestReadConfirmFile: the records of a confirmation file, by hash, as a
// TokenStore keeps them: a store over them knows the file's tokens.
func TestReadConfirmFile(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), ConfirmFile)
	if recs, err := ReadConfirmFile(path); recs != nil || err != nil {
		t.Fatalf("ReadConfirmFile(no file) = %v, %v; want nothing", recs, err)
	}
	f, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
	alert := f.AlertToken("whatsapp-incident-1", "whatsapp")
	recs, err := ReadConfirmFile(path)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadConfirmFile = %d records, %v; want 2", len(recs), err)
	}
	s, err := OpenConfirmStore(ConfirmConfig{Tokens: &memTokens{recs: recs}, TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Take(p.Token, alice); err != nil || got.Command.Verb != VerbStop {
		t.Errorf("the file's prompt in a token store = %+v, %v; want the stop", got, err)
	}
	if _, err := s.Take(alert, bob); err != nil {
		t.Errorf("the file's alert token in a token store = %v; want it usable", err)
	}
	if err := os.WriteFile(path, []byte(`{"version":9,"tokens":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfirmFile(path); err == nil {
		t.Error("ReadConfirmFile of a newer version = nil error")
	}
}
