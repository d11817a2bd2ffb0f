package cards

import "time"

// Welcome is sent when the app is installed: what the bot does, and a
// button to start.
func Welcome(loc Locale) Card {
	return newCard("welcome",
		[]any{
			title(Text(loc, "start.title")),
			textBlock(Text(loc, "welcome.text")),
			textBlock(Text(loc, "start.body")),
		},
		[]any{execute(Text(loc, "btn.start"), VerbStart, nil, "positive")},
	)
}

// Help lists the commands, with a button to start.
func Help(loc Locale) Card {
	return newCard("help",
		[]any{title(Text(loc, "help.title")), textBlock(Text(loc, "help.body"))},
		[]any{execute(Text(loc, "btn.start"), VerbStart, nil, "positive")},
	)
}

// Unknown answers text the bot did not understand: a short line, the
// commands, and the start button.
func Unknown(loc Locale) Card {
	return newCard("unknown",
		[]any{textBlock(Text(loc, "unknown.text"), "weight", "Bolder"), textBlock(Text(loc, "help.body"))},
		[]any{execute(Text(loc, "btn.start"), VerbStart, nil, "positive")},
	)
}

// Resume is offered when the user asks to start while a procedure is in
// progress: continue at the current step, or start over.
func Resume(loc Locale, ref Ref, index, total int, stepTitle string) Card {
	return newCard("resume",
		[]any{title(Text(loc, "resume.title")), textBlock(Text(loc, "resume.body", stepTitle, index, total))},
		[]any{
			execute(Text(loc, "btn.resume"), VerbResume, &ref, "positive"),
			execute(Text(loc, "btn.restart"), VerbRestart, &ref, ""),
			execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
			execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
		},
	)
}

// Status says where the user is and what comes next.
func Status(loc Locale, ref Ref, index, total int, stepTitle, nextTitle string) Card {
	body := []any{title(Text(loc, "status.title")), textBlock(Text(loc, "status.body", index, total, stepTitle))}
	if nextTitle != "" {
		body = append(body, textBlock(Text(loc, "status.next", nextTitle), "isSubtle", true))
	}
	return newCard("status", body, []any{
		execute(Text(loc, "btn.resume"), VerbResume, &ref, "positive"),
		execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	})
}

// NoDialog says no procedure is in progress, with the start button.
func NoDialog(loc Locale) Card { return NoDialogNotice(loc, "") }

// NoDialogNotice is NoDialog with a notice above it (an out-of-date card).
func NoDialogNotice(loc Locale, noticeText string) Card {
	body := []any{title(Text(loc, "status.title"))}
	if noticeText != "" {
		body = append([]any{notice(noticeText)}, body...)
	}
	body = append(body, textBlock(Text(loc, "status.none")))
	return newCard("no-dialog", body, []any{execute(Text(loc, "btn.start"), VerbStart, nil, "positive")})
}

// Cancelled confirms that the procedure was stopped.
func Cancelled(loc Locale) Card {
	return newCard("cancelled",
		[]any{title(Text(loc, "cancel.title")), textBlock(Text(loc, "cancel.body"))},
		[]any{execute(Text(loc, "btn.start"), VerbStart, nil, "")},
	)
}

// Summary is what the done card reports.
type Summary struct {
	// StepTitles are the titles of the steps completed, in order.
	StepTitles []string
	// Took is how long the procedure took.
	Took time.Duration
	// NewDevice names the new phone Graph confirmed; OldDevices the
	// registrations deleted.
	NewDevice  string
	OldDevices []string
}

// Done closes the procedure with a summary.
func Done(loc Locale, s Summary) Card {
	body := []any{
		title(Text(loc, "done.title")),
		textBlock(Text(loc, "done.body")),
		textBlock(Text(loc, "done.summary", int(s.Took.Round(time.Minute)/time.Minute)), "isSubtle", true),
	}
	if s.NewDevice != "" {
		body = append(body, textBlock("✅ "+Text(loc, "check.found", Plain(s.NewDevice))))
	}
	for i, d := range s.OldDevices {
		if i == MaxLines {
			body = append(body, textBlock(Text(loc, "more", len(s.OldDevices)-i), "isSubtle", true))
			break
		}
		body = append(body, textBlock("🗑 "+Text(loc, "done.deleted", Plain(d))))
	}
	if len(s.StepTitles) > 0 {
		var facts []any
		for i, t := range s.StepTitles {
			facts = append(facts, map[string]any{"title": "✓ " + itoa(i+1), "value": t})
		}
		body = append(body, textBlock(Text(loc, "done.steps"), "weight", "Bolder"), map[string]any{"type": "FactSet", "facts": facts})
	}
	return newCard("done", body, nil)
}

// Lost explains the path for a lost or broken old phone; ticket is the
// helpdesk ticket opened for it (0: none could be opened).
func Lost(c *Content, loc Locale, ref Ref, ticket int64) Card {
	body := []any{title(Text(loc, "lost.title")), textBlock(Text(loc, "lost.body"))}
	if ticket > 0 {
		body = append(body, textBlock(Text(loc, "hd.lost.ticket", ticket), "weight", "Bolder"))
	}
	body = append(body, textBlock(c.Helpdesk.In(loc), "weight", "Bolder"))
	return newCard("lost",
		body,
		[]any{
			execute(Text(loc, "btn.back"), VerbBack, &ref, ""),
			execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
			execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
		},
	)
}

// HelpdeskInfo tells the user how to reach the helpdesk, naming the step
// they are at (stepTitle, or empty before a procedure has started).
func HelpdeskInfo(c *Content, loc Locale, ref *Ref, stepTitle string) Card {
	if stepTitle == "" {
		stepTitle = Text(loc, "helpdesk.none")
	}
	var actions []any
	if ref != nil {
		actions = append(actions, execute(Text(loc, "btn.resume"), VerbResume, ref, "positive"))
	} else {
		actions = append(actions, execute(Text(loc, "btn.start"), VerbStart, nil, ""))
	}
	return newCard("helpdesk",
		[]any{
			title(Text(loc, "helpdesk.title")),
			textBlock(Text(loc, "helpdesk.body", stepTitle)),
			textBlock(c.Helpdesk.In(loc), "weight", "Bolder"),
		},
		actions,
	)
}

// ConfirmBotDelete asks the user to confirm that the bot deletes the listed
// old registrations.
func ConfirmBotDelete(loc Locale, ref Ref, devices []Device) Card {
	body := []any{title(Text(loc, "botdelete.title")), textBlock(Text(loc, "botdelete.body"))}
	body = append(body, deviceLines(loc, devices)...)
	return newCard("confirm-delete", body, []any{
		execute(Text(loc, "btn.confirmdelete"), VerbConfirmDelete, &ref, "destructive"),
		execute(Text(loc, "btn.back"), VerbResume, &ref, ""),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	})
}

// ReminderView is what a reminder says.
type ReminderView struct {
	Ref          Ref
	Index, Total int
	StepTitle    string
	// OldDevices lists the registrations still to delete; empty for a
	// procedure abandoned before the new phone was confirmed.
	OldDevices []Device
	// Abandoned: stopped before the new phone was confirmed.
	Abandoned bool
	// CanSnooze offers あとで.
	CanSnooze bool
}

// Reminder is the proactive message to a user who stopped halfway: what is
// left, and buttons to resume at the right step, put it off, cancel, or ask
// the helpdesk.
func Reminder(loc Locale, v ReminderView) Card {
	body := []any{title(Text(loc, "reminder.title"))}
	if v.Abandoned {
		body = append(body, textBlock(Text(loc, "reminder.abandoned")))
	} else {
		body = append(body, textBlock(Text(loc, "reminder.old"), "color", "Attention"))
	}
	body = append(body, deviceLines(loc, v.OldDevices)...)
	body = append(body, textBlock(Text(loc, "reminder.at", v.Index, v.Total, v.StepTitle), "isSubtle", true))
	ref := v.Ref
	actions := []any{execute(Text(loc, "btn.resume"), VerbResume, &ref, "positive")}
	if v.CanSnooze {
		actions = append(actions, execute(Text(loc, "btn.snooze"), VerbSnooze, &ref, ""))
	}
	actions = append(actions,
		execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	)
	return newCard("reminder", body, actions)
}

// Snoozed confirms あとで, with the button to continue now.
func Snoozed(loc Locale, ref Ref, text string) Card {
	return newCard("snoozed", []any{textBlock(text)}, []any{
		execute(Text(loc, "btn.resume"), VerbResume, &ref, "positive"),
		execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	})
}

// TooLarge stands in for a card that would have been over MaxSize (a bug:
// the builders bound what they show), in both languages since the card it
// replaces is not known here, with a button that shows where the user is.
func TooLarge() Card {
	return newCard("too-large", []any{
		notice(Text(Japanese, "card.toolarge")),
		textBlock(Text(English, "card.toolarge")),
	}, []any{execute(Text(Japanese, "status.title")+" / "+Text(English, "status.title"), VerbStatus, nil, "")})
}
