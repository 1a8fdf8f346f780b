package slackbot

import (
	"context"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode serves slash commands and button clicks over Socket Mode
// until ctx is cancelled: no public URL needed. Every envelope is
// acknowledged at once and handled by the same code as HTTP requests.
// slack-go's client reconnects when Slack asks it to; when a connection
// fails outright, RunSocketMode reconnects with capped exponential backoff.
func (f *Front) RunSocketMode(ctx context.Context, client *socketmode.Client) error {
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		wait := time.Second
		for ctx.Err() == nil {
			began := time.Now()
			err := client.RunContext(ctx)
			if ctx.Err() != nil {
				return
			}
			if time.Since(began) > time.Minute {
				wait = time.Second // it ran fine for a while: start over
			}
			f.log.Warn().Err(err).Dur("retry_in", wait).Msg("socket mode connection ended; reconnecting")
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, 30*time.Second)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			<-runDone
			return nil
		case evt := <-client.Events:
			f.socketEvent(client, evt)
		}
	}
}

func (f *Front) socketEvent(client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			f.ack(client, evt)
			return
		}
		sc := slashCommand{Command: cmd.Command, Text: commandText(cmd.Text), UserID: cmd.UserID, UserName: cmd.UserName,
			ChannelID: cmd.ChannelID, ResponseURL: cmd.ResponseURL}
		if !f.acceptCommand(sc) {
			f.log.Warn().Bool("audit", true).Str("kind", "command").Str("user_id", sc.UserID).Str("channel", sc.ChannelID).
				Str("command", capLog(sc.Text)).Str("outcome", "shed").Msg("audit")
			if evt.Request != nil {
				_ = client.Ack(*evt.Request, slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: busyText})
			}
			return
		}
		f.ack(client, evt)
	case socketmode.EventTypeInteractive:
		f.ack(client, evt)
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || cb.Type != slack.InteractionTypeBlockActions {
			return
		}
		f.dispatchClick(func(ctx context.Context) { f.handleAction(ctx, cb) })
	case socketmode.EventTypeEventsAPI:
		f.ack(client, evt) // not subscribed to any; acknowledged so Slack does not retry
	case socketmode.EventTypeConnected:
		f.log.Info().Msg("socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		f.log.Error().Str("event", string(evt.Type)).Msg("socket mode")
	}
}

func (f *Front) ack(client *socketmode.Client, evt socketmode.Event) {
	if evt.Request == nil {
		return
	}
	if err := client.Ack(*evt.Request); err != nil {
		f.log.Warn().Err(err).Msg("socket mode ack")
	}
}
