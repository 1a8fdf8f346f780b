package usererr

import (
	"errors"
	"fmt"
	"testing"
)

func TestMessage(t *testing.T) {
	cause := errors.New("open /srv/secret/path: permission denied")
	safe := Wrap(cause, Unavailable, "the log file cannot be read")
	tests := []struct {
		name     string
		err      error
		wantMsg  string
		wantCode Code
	}{
		{"nil", nil, "", ""},
		{"raw", cause, Fallback, Internal},
		{"safe", safe, "the log file cannot be read", Unavailable},
		{"wrapped safe", fmt.Errorf("logs whatsapp: %w", safe), "the log file cannot be read", Unavailable},
	}
	for _, tt := range tests {
		if got := Message(tt.err); got != tt.wantMsg {
			t.Errorf("%s: Message = %q; want %q", tt.name, got, tt.wantMsg)
		}
		if got := CodeOf(tt.err); got != tt.wantCode {
			t.Errorf("%s: CodeOf = %q; want %q", tt.name, got, tt.wantCode)
		}
	}
	if !errors.Is(safe, cause) {
		t.Error("Wrap loses the cause")
	}
	if got := safe.Error(); got != "the log file cannot be read: open /srv/secret/path: permission denied" {
		t.Errorf("Error() = %q", got)
	}
}
