// Package doctor checks the host a service runs on, without starting the
// service: Node.js and npm versions, the service dir and start command, the
// port and who holds it (PortFree, PortOwner), the log file and its dir,
// disk space, and whether the service runs as the bot's user (ServiceUsers,
// CheckUsers). Each check is a fact (Check: a name, a Verdict, a detail and a
// hint); front ends word them.
//
//   - Preconditions are what start must pass before it spawns anything.
//   - HostChecks are the `doctor` command's list (and `check`'s).
//
// It knows nothing of a running service: package manager imports it for the
// start preconditions and adds the checks that need the service (health,
// processes, Chromium locks) in Service.Doctor.
package doctor
