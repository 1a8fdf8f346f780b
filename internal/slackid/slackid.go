// Package slackid holds Slack's rules for the identifiers the bot is
// configured with: channel, user and user group IDs, and slash command
// names. The config validator, the manifest and the Slack front end all ask
// here, so they never disagree.
package slackid

import "regexp"

var (
	channelRE   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	userRE      = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	usergroupRE = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	// Slack: a slash command is lower case, without spaces, at most 32
	// characters, the slash included.
	commandRE = regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`)
)

// CommandMax is the longest slash command Slack accepts, the slash included.
const CommandMax = 32

// Channel reports whether s looks like a conversation ID (C..., G..., D...).
func Channel(s string) bool { return channelRE.MatchString(s) }

// User reports whether s looks like a user ID (U... or W...).
func User(s string) bool { return userRE.MatchString(s) }

// Usergroup reports whether s looks like a user group ID (S...).
func Usergroup(s string) bool { return usergroupRE.MatchString(s) }

// Command reports whether s is a slash command Slack accepts: "/sanasend".
func Command(s string) bool { return commandRE.MatchString(s) }
