package dialogs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is when reminders may be sent, in the user's own time zone: some
// days of the week, between two times of day. The zero Window allows any
// time.
type Window struct {
	Always     bool
	Days       [7]bool // by time.Weekday
	Start, End int     // minutes after midnight; End exclusive
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow reads REMINDER_HOURS: "always", or days and hours such as
// "Mon-Fri 09:00-18:00" or "Mon,Wed,Fri 10:00-16:30".
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "always") {
		return Window{Always: true}, nil
	}
	days, hours, ok := strings.Cut(s, " ")
	if !ok {
		return Window{}, fmt.Errorf("%q: want \"always\" or days and hours like \"Mon-Fri 09:00-18:00\"", s)
	}
	var w Window
	for _, part := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(part)), "-")
		a, okA := weekdays[from]
		if !okA {
			return Window{}, fmt.Errorf("%q: unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s, from)
		}
		b := a
		if isRange {
			var okB bool
			if b, okB = weekdays[to]; !okB {
				return Window{}, fmt.Errorf("%q: unknown day %q", s, to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == b {
				break
			}
		}
	}
	from, to, ok := strings.Cut(strings.TrimSpace(hours), "-")
	if !ok {
		return Window{}, fmt.Errorf("%q: hours must look like 09:00-18:00", s)
	}
	var err error
	if w.Start, err = clock(from); err != nil {
		return Window{}, fmt.Errorf("%q: %w", s, err)
	}
	if w.End, err = clock(to); err != nil {
		return Window{}, fmt.Errorf("%q: %w", s, err)
	}
	if w.End <= w.Start {
		return Window{}, fmt.Errorf("%q: the end of the hours must be after the start", s)
	}
	return w, nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}

// Next returns t if it falls inside the window in loc, otherwise the start
// of the next opening.
func (w Window) Next(t time.Time, loc *time.Location) time.Time {
	if w.Always || w == (Window{}) {
		return t
	}
	lt := t.In(loc)
	for i := 0; i < 8; i++ {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 0, 0, 0, 0, loc)
		if !w.Days[day.Weekday()] {
			continue
		}
		open := day.Add(time.Duration(w.Start) * time.Minute)
		closeAt := day.Add(time.Duration(w.End) * time.Minute)
		if lt.Before(open) {
			return open
		}
		if lt.Before(closeAt) {
			return t
		}
	}
	return t // no day allowed: the parser prevents it
}
