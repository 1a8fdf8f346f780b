package slackbot

import (
	"regexp"
	"strings"
)

// redactURL matches a URL with a scheme (a response URL, a Socket Mode
// websocket URL with its ticket, any Slack API address) and Slack's webhook
// hosts written without one.
var redactURL = regexp.MustCompile(`(?i)\b(?:(?:https?|wss?)://|hooks\.slack\.com/)[^\s"'<>` + "`" + `|]*`)

// redactHost matches the host net reports in a transport error ("dial tcp
// 10.0.0.5:443: ...", "lookup hooks.example.com: ..."): with the URL gone,
// it would still say where the response URL points.
var redactHost = regexp.MustCompile(`\b(dial (?:tcp|udp)[46]?|lookup) (?:\[[0-9a-fA-F:.%]+\]|[^\s:\[]+)(?::\d+)?`)

// redacted replaces every URL in a text.
const redacted = "[url]"

// RedactURLs returns s with every URL replaced by "[url]", and the host of a
// transport error by "[host]": a response URL
// is a credential (anyone who holds it can post in the channel for 30
// minutes), and slack-go's transport errors carry the URL they were posting
// to ("Post \"https://hooks.slack.com/...\": ...").
func RedactURLs(s string) string {
	if strings.Contains(s, "://") || strings.Contains(strings.ToLower(s), "hooks.slack.com") {
		s = redactURL.ReplaceAllString(s, redacted)
	}
	return redactHost.ReplaceAllString(s, "$1 [host]")
}

// RedactError is the text of an error from Slack (the Web API, a response
// URL, Socket Mode) fit for a log line: its URLs removed, on one line,
// bounded. Every log line in this package that carries such an error uses
// it, never zerolog's Err.
func RedactError(err error) string {
	if err == nil {
		return ""
	}
	s := RedactURLs(err.Error())
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return capLog(strings.TrimSpace(s))
}
