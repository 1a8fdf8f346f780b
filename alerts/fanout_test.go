package alerts

import (
	"errors"
	"testing"
)

type countingNotifier struct {
	got int
	err error
}

func (c *countingNotifier) Notify(Notice) error { c.got++; return c.err }

func TestNotifiersDeliverToEach(t *testing.T) {
	slack, email := &countingNotifier{err: errors.New("journal full")}, &countingNotifier{}
	err := Notifiers{slack, email}.Notify(Notice{ID: "x"})
	if slack.got != 1 || email.got != 1 {
		t.Errorf("slack got %d, email %d; want 1 each, whatever the other said", slack.got, email.got)
	}
	if err == nil || err.Error() != "journal full" {
		t.Errorf("err = %v; want the refusal", err)
	}
	if err := (Notifiers{email}).Notify(Notice{}); err != nil {
		t.Errorf("err = %v; want nil", err)
	}
}

func TestObservedSeesOnlyAccepted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		wantSeen int
	}{
		{"accepted", nil, 1},
		{"refused", errors.New("journal full"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, seen := &countingNotifier{err: tc.err}, 0
			err := Observed(next, func(Notice) { seen++ }).Notify(Notice{ID: "x"})
			if !errors.Is(err, tc.err) || next.got != 1 || seen != tc.wantSeen {
				t.Errorf("err %v, delivered %d, seen %d; want %v, 1, %d", err, next.got, seen, tc.err, tc.wantSeen)
			}
		})
	}
}
