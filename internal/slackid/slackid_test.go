package slackid

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"channel", Channel, "C0ALERTS", true},
		{"channel", Channel, "U0ADMIN", false},
		{"user", User, "U0ADMIN", true},
		{"user", User, "W12345", true},
		{"user", User, "u0admin", false},
		{"usergroup", Usergroup, "S0STAFF", true},
		{"command", Command, "/sanasend", true},
		{"command", Command, "/" + strings.Repeat("a", CommandMax-1), true},
		{"command", Command, "/" + strings.Repeat("a", CommandMax), false},
		{"command", Command, "/San", false},
		{"command", Command, "sanasend", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v; want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
