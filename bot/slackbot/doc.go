// Package slackbot is the Slack front end of the bot: `/sanasend` slash
// commands and button clicks, over HTTP (signed requests) or Socket Mode,
// rendered as Block Kit messages. It translates Slack's input into
// bot.Requests and the router's bot.Replies into messages; the rules (who
// may do what, confirmations, audit) stay in package bot.
//
// Every request is verified before anything is parsed; every Web API call
// goes through slack-go with a deliberate retry policy and honours
// slack.api_url.
//
// blockkit.go is the one Block Kit toolkit: the builders, Slack's limits
// and escaping. Every outgoing Message, replies and alerts alike, passes
// Message.fit, which enforces the limits and escapes whatever outside text
// a builder left unescaped.
package slackbot
