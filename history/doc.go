// Package history is the bot's durable memory of its services: every health
// check for 48 hours, minute, hour and day rollups of them, incidents,
// actions and restorations, in one SQLite file (modernc.org/sqlite, pure Go).
//
// It owns the file, its schema (migrations versioned in schema.go, applied by
// Open) and the one goroutine that writes to it. Recording never blocks: the
// Record methods put a fact on a bounded queue and return; when the queue is
// full the fact is dropped and counted, and when the disk is full or the file
// is damaged the writer retries with backoff while Health says why. Nothing on
// the alert path may wait on this package.
//
// It must not know the bot's other packages: services are names, states are
// the strings "healthy", "unhealthy" and "stopped", and times come from the
// caller or the injected clock. Words for people are the front ends' job;
// this package returns numbers and spans (Report, Incident, Restoration).
//
// It also keeps the small durable documents of the bot's other packages
// (state.go: the alert state, maintenance windows and confirmation tokens,
// by kind and key, as bytes it does not read), so that the bot has one file
// to back up. Their changes never block either, and unlike a check they are
// never dropped for a full queue: coalesced per key, they wait for the
// writer while it fails.
//
// Wiring, in one place: Open(filepath.Join(stateDir, "history.db"), opts)
// with opts.CheckInterval the monitor's interval; RecordCheck after each
// health check; RecordIncidentOpened, ...Acknowledged and ...Resolved from
// the alert state machine; RecordAction after each start, stop or restart;
// RecordRestoration with each restoration summary; Schedule(scheduler,
// time.Minute) for the rollup and retention job; Uptime, Incidents and
// LastRestoration for reports; LoadState at start and PutState, DeleteState
// and ReplaceState for the state (ImportState once, for older files); Health (and SafeMessage for an error from
// Open) for status, doctor and /metrics; Close at shutdown, after the
// producers have stopped. Rollup buckets are UTC minutes, hours and days.
package history
