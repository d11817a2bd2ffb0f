package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartswap/mfabot/internal/loopback"
)

// Helpdesk is HELPDESK_* and TAP_*.
type Helpdesk struct {
	ConversationID string // HELPDESK_CONVERSATION_ID: the channel fixed by the environment, if any
	ServiceURL     string // HELPDESK_SERVICE_URL: its team's serviceUrl
	TeamID         string // HELPDESK_TEAM_ID
	Admins         []string
	TAPEnabled     bool
	TAPLifetime    time.Duration
	WebhookURL     string // HELPDESK_WEBHOOK_URL: ticket events are POSTed there when set
	WebhookSecret  Secret
}

func loadHelpdesk(get func(string) string, getenv func(string) string, local bool) (Helpdesk, error) {
	hc := Helpdesk{
		ConversationID: get("HELPDESK_CONVERSATION_ID"),
		ServiceURL:     get("HELPDESK_SERVICE_URL"),
		TeamID:         get("HELPDESK_TEAM_ID"),
		TAPLifetime:    time.Hour,
		WebhookURL:     get("HELPDESK_WEBHOOK_URL"),
		WebhookSecret:  Secret(getenv("HELPDESK_WEBHOOK_SECRET")),
	}
	if (hc.ConversationID == "") != (hc.ServiceURL == "") {
		return hc, &Error{"HELPDESK_SERVICE_URL", "HELPDESK_CONVERSATION_ID and HELPDESK_SERVICE_URL go together (the channel's conversation id and the serviceUrl of its team)"}
	}
	if hc.ServiceURL != "" {
		u, err := url.Parse(hc.ServiceURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback.Host(u.Hostname()))) {
			return hc, &Error{"HELPDESK_SERVICE_URL", "is not an https URL (e.g. https://smba.trafficmanager.net/jp/)"}
		}
	}
	for _, a := range splitList(get("HELPDESK_ADMINS")) {
		if !guidPattern.MatchString(a) {
			return hc, &Error{"HELPDESK_ADMINS", fmt.Sprintf("%q is not an aadObjectId (GUID)", a)}
		}
		hc.Admins = append(hc.Admins, strings.ToLower(a))
	}
	if v := get("TAP_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return hc, &Error{"TAP_ENABLED", fmt.Sprintf("%q is not true or false", v)}
		}
		hc.TAPEnabled = b
	}
	if v := get("TAP_LIFETIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Minute || d > 8*time.Hour || d%time.Minute != 0 {
			return hc, &Error{"TAP_LIFETIME", fmt.Sprintf("%q is not a whole number of minutes between 10m and 8h", v)}
		}
		hc.TAPLifetime = d
	}
	if hc.WebhookURL != "" {
		u, err := url.Parse(hc.WebhookURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback.Host(u.Hostname()))) {
			return hc, &Error{"HELPDESK_WEBHOOK_URL", "is not an https URL"}
		}
		if len(hc.WebhookSecret) < 16 {
			return hc, &Error{"HELPDESK_WEBHOOK_SECRET", "must be set, at least 16 characters, when HELPDESK_WEBHOOK_URL is"}
		}
	}
	return hc, nil
}
