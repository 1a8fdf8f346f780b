package manager

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseHealth(t *testing.T) {
	tests := []struct {
		code   int
		body   string
		ok     bool
		reason string
	}{
		{200, `{"success":true,"status":"healthy","uptime":123.45,"timestamp":"2026-11-28T03:00:00Z"}`, true, ""},
		{503, `{"success":false,"status":"unhealthy"}`, false, "HTTP 503, status unhealthy"},
		{503, `Service Unavailable`, false, "HTTP 503"},
		{200, `{"success":true,"status":"starting"}`, false, `status "starting"`},
		{200, `{"success":true,"status":"healthy"`, false, "bad JSON"},
		{200, ``, false, "bad JSON"},
		{404, `{"success":false,"error":"Endpoint not found"}`, false, "HTTP 404"},
	}
	for _, tc := range tests {
		h := ParseHealth(tc.code, []byte(tc.body))
		if h.OK != tc.ok || !strings.HasPrefix(h.Reason, tc.reason) {
			t.Errorf("ParseHealth(%d, %q) = ok %v reason %q; want ok %v reason %q", tc.code, tc.body, h.OK, h.Reason, tc.ok, tc.reason)
		}
	}
}

func FuzzParseHealth(f *testing.F) {
	f.Add(200, []byte(`{"success":true,"status":"healthy","uptime":123.45}`))
	f.Add(503, []byte(`{"status":"unhealthy"}`))
	f.Add(200, []byte(`{"uptime":1e308}`))
	f.Add(200, []byte(`not json`))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		h := ParseHealth(code, body)
		if h.OK && (code != http.StatusOK || h.Status != "healthy") {
			t.Fatalf("ParseHealth(%d, %q) = OK with status %q", code, body, h.Status)
		}
		if !h.OK && h.Reason == "" {
			t.Fatalf("ParseHealth(%d, %q): failed without a reason", code, body)
		}
		if h.Uptime < 0 {
			t.Fatalf("negative uptime %s", h.Uptime)
		}
		if len(h.Reason) > 200 {
			t.Fatalf("reason of %d bytes", len(h.Reason))
		}
	})
}
