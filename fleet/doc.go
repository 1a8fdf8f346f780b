// Package fleet connects the bots of several hosts over NATS: a hub (the
// Slack front end) and agents (the manager and the monitor of one host's
// services). This version holds the groundwork only, wired to nothing yet:
// the NATS server a hub runs in-process (Embedded), with JetStream on the
// state dir, so that a small fleet needs no NATS to install; and the
// leadership of one hub among several (Leader), by a key that expires. A
// bot without `fleet:` in its configuration runs none of it.
package fleet
