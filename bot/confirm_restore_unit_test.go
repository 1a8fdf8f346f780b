package bot

import (
	"errors"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"
)

// Restore gives back a used token, once, saved: the next store reads it
// usable. A cancelled, unused or unknown token is not restored.
func TestConfirmRestoreGivesBackAUsedTokenOnly(t *testing.T) {
	storeKinds(t, func(t *testing.T, open func() *ConfirmStore, _ *clockwork.FakeClock) {
		s := open()
		token := s.AlertToken("whatsapp-incident-1", "whatsapp")
		if err := s.Restore(token); err == nil {
			t.Error("restore of an unused token = nil; want an error")
		}
		if _, err := s.Take(token, alice); err != nil {
			t.Fatalf("take: %v", err)
		}
		if err := s.Restore(token); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if s.file != nil {
			s = open() // the next bot process
		}
		if _, err := s.Take(token, bob); err != nil {
			t.Fatalf("take after restore: %v", err)
		}
		if _, err := s.Take(token, alice); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("third take = %v; want ErrTokenUsed", err)
		}

		p := s.Issue(Command{Verb: VerbStop}, "whatsapp", alice.ID, "C1")
		if _, err := s.Cancel(p.Token, alice); err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(p.Token); err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("restore of a cancelled token = %v; want it refused", err)
		}
		if _, err := s.Take(p.Token, alice); !errors.Is(err, ErrTokenCanceled) {
			t.Errorf("take after a refused restore = %v; want ErrTokenCanceled", err)
		}
		if err := s.Restore(strings.Repeat("0", 32)); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("restore of a forged token = %v; want ErrTokenUnknown", err)
		}
	})
}
