package whatsapp

import "strings"

// CauseKind is what a session's failure cause, as logged, comes down to: a
// fact that the front ends word (what happened, what to do) without reading
// the raw text again.
type CauseKind string

const (
	// CauseOther: a cause the bot does not recognise; the raw text is all
	// there is.
	CauseOther CauseKind = "other"
	// CauseNoReason: "undefined" (or nothing): the real service logs it
	// after its 30 s authentication timeout, when the saved login is dead.
	CauseNoReason CauseKind = "no_reason"
	// CauseDNS: a name did not resolve: ENOTFOUND, EAI_AGAIN,
	// net::ERR_NAME_NOT_RESOLVED, net::ERR_NAME_RESOLUTION_FAILED.
	CauseDNS CauseKind = "dns"
	// CauseTimeout: a network call or a page load took too long:
	// ETIMEDOUT, net::ERR_TIMED_OUT, net::ERR_CONNECTION_TIMED_OUT,
	// puppeteer's "Navigation timeout of N ms exceeded", TimeoutError.
	CauseTimeout CauseKind = "timeout"
	// CauseProxy: the proxy refused or failed: net::ERR_PROXY_CONNECTION_FAILED,
	// net::ERR_TUNNEL_CONNECTION_FAILED.
	CauseProxy CauseKind = "proxy"
	// CauseOffline: no network at all: net::ERR_INTERNET_DISCONNECTED,
	// net::ERR_NETWORK_CHANGED, ENETUNREACH, EHOSTUNREACH.
	CauseOffline CauseKind = "offline"
	// CauseRefused: a connection was refused or reset: ECONNREFUSED,
	// ECONNRESET, net::ERR_CONNECTION_REFUSED, net::ERR_CONNECTION_RESET,
	// net::ERR_CONNECTION_CLOSED.
	CauseRefused CauseKind = "refused"
	// CauseTLS: a certificate or TLS error: net::ERR_CERT_*, net::ERR_SSL_*.
	CauseTLS CauseKind = "tls"
	// CauseProfileInUse: another Chromium holds the session's profile (a
	// SingletonLock, often stale after a kill).
	CauseProfileInUse CauseKind = "profile_in_use"
	// CauseBrowserLaunch: Chromium did not start ("Failed to launch the
	// browser process", a missing executable or library, puppeteer's
	// "Timed out after N ms while waiting for the WS endpoint URL").
	CauseBrowserLaunch CauseKind = "browser_launch"
	// CauseBrowserGone: the browser died or was closed under the session:
	// "Navigating frame was detached", "Target closed", "Session closed",
	// "Protocol error", "browser has disconnected". During a stop this is
	// the stop's doing, not the session's (see SessionView.Interrupted).
	CauseBrowserGone CauseKind = "browser_gone"
	// CauseLoggedOut: WhatsApp logged the device out ("LOGOUT"): the phone
	// removed it, or the login expired.
	CauseLoggedOut CauseKind = "logged_out"
)

// causePatterns are matched in order, case-insensitively, against a cause:
// the first hit decides. More specific patterns come first (a "Navigation
// timeout" inside a "Protocol error" is a timeout).
var causePatterns = []struct {
	kind CauseKind
	subs []string
}{
	{CauseProfileInUse, []string{"profile appears to be in use", "singletonlock", "is already running"}},
	{CauseProxy, []string{"err_proxy_", "err_tunnel_connection_failed"}},
	{CauseDNS, []string{"err_name_not_resolved", "err_name_resolution_failed", "enotfound", "eai_again"}},
	{CauseTLS, []string{"err_cert_", "err_ssl_"}},
	{CauseOffline, []string{"err_internet_disconnected", "err_network_changed", "err_address_unreachable", "enetunreach", "ehostunreach"}},
	{CauseBrowserLaunch, []string{"waiting for the ws endpoint url"}},
	{CauseTimeout, []string{"navigation timeout", "timeouterror", "err_timed_out", "err_connection_timed_out", "etimedout", "timed out"}},
	{CauseRefused, []string{"err_connection_refused", "err_connection_reset", "err_connection_closed", "econnrefused", "econnreset"}},
	{CauseBrowserLaunch, []string{"failed to launch the browser process", "could not find chrome", "could not find expected browser", "error while loading shared libraries"}},
	{CauseBrowserGone, []string{"navigating frame was detached", "target closed", "session closed", "protocol error", "browser has disconnected", "execution context was destroyed"}},
	{CauseLoggedOut, []string{"logout", "logged out"}},
}

// ClassifyCause says what a cause, as logged, comes down to.
func ClassifyCause(cause string) CauseKind {
	c := strings.ToLower(strings.TrimSpace(cause))
	if c == "" || c == "undefined" || c == "null" {
		return CauseNoReason
	}
	for _, p := range causePatterns {
		for _, sub := range p.subs {
			if strings.Contains(c, sub) {
				return p.kind
			}
		}
	}
	return CauseOther
}
