package slackbot

// Action IDs of the buttons the bot puts in messages. The value of a button
// carries a confirmation token (confirm, cancel) or a service name.
const (
	ActionConfirm = "sanasend_confirm" // value: confirmation token
	ActionCancel  = "sanasend_cancel"  // value: confirmation token
	ActionRefresh = "sanasend_refresh" // value: service name; re-renders the status card
	ActionLogs    = "sanasend_logs"    // value: service name; last 50 log lines
	ActionRestart = "sanasend_restart" // value: service name; asks for confirmation like `restart`
	ActionAck     = "sanasend_ack"     // value: service name; acknowledges its open alert
)
