package slackbot

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// FuzzVerifyRequest: whatever arrives, verification never panics, and a
// request passes only when it carries the right signature of its body
// within the time window.
func FuzzVerifyRequest(f *testing.F) {
	f.Add([]byte("command=%2Fsanasend&text=status"), "v0=00", "1700000000", true)
	f.Add([]byte(""), "", "", false)
	// The oversized body is TestRequestVerification's: a 64 KiB seed makes
	// the fuzzer spend its time minimising it.
	f.Add([]byte("payload=%7B%7D"), "v0=zz", "-1", false)
	f.Fuzz(func(t *testing.T, body []byte, sig, ts string, signIt bool) {
		req, err := http.NewRequest(http.MethodPost, "http://x/slack/commands", bytes.NewReader(body))
		if err != nil {
			return
		}
		if signIt {
			sign(req, string(body), time.Now())
		} else {
			req.Header.Set("X-Slack-Signature", sig)
			req.Header.Set("X-Slack-Request-Timestamp", ts)
		}
		got, err := verifyRequest(req, secret)
		wantOK := signIt && len(body) <= MaxBodyBytes
		if (err == nil) != wantOK {
			t.Fatalf("verify(signed=%v, %d bytes, sig %q, ts %q) = %v; want ok %v", signIt, len(body), sig, ts, err, wantOK)
		}
		if err == nil && !bytes.Equal(got, body) {
			t.Fatal("verified body differs from the one sent")
		}
	})
}
