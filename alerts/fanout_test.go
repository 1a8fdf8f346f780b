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
