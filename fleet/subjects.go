package fleet

// Subjects, buckets and host names: the names every part of the fleet
// agrees on. A subject carries the host it is about, so that NATS
// permissions can be granted per host.

import (
	"fmt"
	"regexp"
)

const (
	// AgentService is the name of every agent's NATS micro service; its
	// instances are found with $SRV.PING.sanasend-agent / $SRV.INFO.
	AgentService = "sanasend-agent"
	// FactsStream is the JetStream stream of the agents' facts
	// (incidents, restorations, digests) on FactsSubject(host).
	FactsStream = "SANASEND_FACTS"
	// TokensBucket is the key-value bucket of confirmation and alert
	// tokens shared by the hubs.
	TokensBucket = "sanasend_tokens"
	// LeaderBucket is the key-value bucket of the hubs' leadership key.
	LeaderBucket = "sanasend_leader"
	// ThreadsBucket is the key-value bucket where the leading hub's
	// outbox tells the others where its Slack messages landed.
	ThreadsBucket = "sanasend_threads"
)

// hostRE is a DNS label in lowercase: what a host may be called in
// `host/service` and in a subject (no dots, no wildcards).
var hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidHost says whether name can be a host's name in the fleet, with the
// reason when it cannot.
func ValidHost(name string) error {
	if !hostRE.MatchString(name) {
		return fmt.Errorf("host name %q: want lowercase letters, digits and '-', at most 63, not starting or ending with '-'", name)
	}
	return nil
}

// AgentSubject is the subject of an agent's endpoint verb:
// "sanasend.agent.web-2.restart".
func AgentSubject(host, verb string) string { return "sanasend.agent." + host + "." + verb }

// EventsSubject is where an agent streams the progress and the result of
// the long action id: "sanasend.events.web-2.<id>".
func EventsSubject(host, id string) string { return "sanasend.events." + host + "." + id }

// FactsSubject is where an agent publishes its facts into FactsStream.
func FactsSubject(host string) string { return "sanasend.facts." + host }

// FactsSubjects is FactsStream's subject filter: every host's facts.
const FactsSubjects = "sanasend.facts.*"

// HeartbeatSubject is where an agent says it is alive.
func HeartbeatSubject(host string) string { return "sanasend.heartbeat." + host }

// HeartbeatSubjects is every agent's heartbeat.
const HeartbeatSubjects = "sanasend.heartbeat.*"
