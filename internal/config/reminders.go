package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smartswap/mfabot/dialogs"
)

// Reminders is REMINDER_*.
type Reminders struct {
	Schedule []time.Duration // REMINDER_SCHEDULE
	Hours    dialogs.Window  // REMINDER_HOURS, parsed
	HoursRaw string          // REMINDER_HOURS as given, for the start-up line
	Rate     int             // REMINDER_RATE: sends per second, all replicas together
	Escalate bool            // REMINDER_ESCALATE
}

func loadReminders(get func(string) string) (Reminders, error) {
	rc := Reminders{Schedule: dialogs.DefaultSchedule, Rate: 30, HoursRaw: "Mon-Fri 09:00-18:00"}
	if v := get("REMINDER_SCHEDULE"); v != "" {
		rc.Schedule = nil
		for _, p := range splitList(v) {
			d, err := time.ParseDuration(p)
			if err != nil || d <= 0 {
				return rc, &Error{"REMINDER_SCHEDULE", fmt.Sprintf("%q is not a positive Go duration (e.g. 24h)", p)}
			}
			if n := len(rc.Schedule); n > 0 && d <= rc.Schedule[n-1] {
				return rc, &Error{"REMINDER_SCHEDULE", "durations must grow (each counts from the user's last activity)"}
			}
			rc.Schedule = append(rc.Schedule, d)
		}
		if len(rc.Schedule) == 0 {
			return rc, &Error{"REMINDER_SCHEDULE", "is empty"}
		}
	}
	if v := get("REMINDER_HOURS"); v != "" {
		rc.HoursRaw = v
	}
	w, err := dialogs.ParseWindow(rc.HoursRaw)
	if err != nil {
		return rc, &Error{"REMINDER_HOURS", err.Error()}
	}
	rc.Hours = w
	if v := get("REMINDER_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			return rc, &Error{"REMINDER_RATE", fmt.Sprintf("%q is not a number of sends per second from 1 to 50 (Teams allows 50 per app per tenant)", v)}
		}
		rc.Rate = n
	}
	if v := get("REMINDER_ESCALATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return rc, &Error{"REMINDER_ESCALATE", fmt.Sprintf("%q is not true or false", v)}
		}
		rc.Escalate = b
	}
	return rc, nil
}

// String is the reminder settings for the start-up line.
func (rc Reminders) String() string {
	var parts []string
	for _, d := range rc.Schedule {
		parts = append(parts, d.String())
	}
	return fmt.Sprintf("schedule %s, hours %s, %d/s", strings.Join(parts, ","), rc.HoursRaw, rc.Rate)
}
