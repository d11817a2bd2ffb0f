package dialogs

import (
	"slices"

	"github.com/smartswap/mfabot/cards"
)

// StepID names a step of the procedure. It is the step's id in the step
// content file (cards/content/steps.json), which holds what its card says.
type StepID string

// The steps of the company's procedure, in its order. Nothing else in the
// Go code names a step: everything that depends on one reads the table.
const (
	StepCautions      StepID = "cautions"
	StepOldPhone      StepID = "old_phone"
	StepOpenPage      StepID = "open_page"
	StepAddMethod     StepID = "add_method"
	StepInstallApp    StepID = "install_app"
	StepShowQR        StepID = "show_qr"
	StepEnterNumber   StepID = "enter_number"
	StepConfirmNew    StepID = "confirm_new"
	StepAddPasskey    StepID = "add_passkey"
	StepDeleteOld     StepID = "delete_old"
	StepRemoveAccount StepID = "remove_account"

	// stepLost is the branch of a user whose old phone is lost or broken:
	// not a step of the procedure but a stop on the way to the helpdesk.
	stepLost StepID = "lost"
)

// check is what the bot confirms through Microsoft Graph itself, instead
// of taking the user's word for it.
type check int

const (
	checkNone check = iota
	// checkSnapshot: the user's registrations as they are before the new
	// phone is added (taken at the start; if that failed, the user cannot
	// leave the step until it is taken).
	checkSnapshot
	// checkNew: a registration that was not in the snapshot exists, the
	// new phone (polled for, the card updated in place).
	checkNew
	// checkDeleted: every old credential the user must delete is gone
	// and the new ones are not.
	checkDeleted
	// checkNewPasskey: a passkey in Authenticator that was not in the
	// snapshot exists, the new phone's (polled for like checkNew).
	checkNewPasskey
)

// polled reports whether a check waits for a new registration (a poller
// looks for it after the acknowledgement).
func (k check) polled() bool { return k == checkNew || k == checkNewPasskey }

// remind is what a reminder says of a dialog that stopped at a step.
type remind int

const (
	// remindResume: the user stopped before the new phone was confirmed;
	// one reminder invites them to continue.
	remindResume remind = iota
	// remindOldPhone: the old phone is still registered; reminders follow
	// the schedule until it is gone (naming its registrations).
	remindOldPhone
)

// step is one row of the procedure.
type step struct {
	ID StepID
	// Section is where the step stands in the company's procedure.
	Section string
	// Enter is checked when the user arrives from the previous step;
	// Leave before they may go on (次へ, 再確認).
	Enter, Leave check
	// Skip, when set, passes the step over on the way forward.
	Skip *skip
	// Only, when set, says for which dialogs the row exists at all: a row
	// without it is neither shown, nor counted in "step i of n", nor gone
	// back to.
	Only func(s *state) bool
	// Back is where 戻る goes: the previous row unless set. Going back to a
	// step before a checkNew row forgets what that check found.
	Back StepID
	// Lost offers 紛失・故障した: the old phone is not at hand.
	Lost bool
	// BotDelete offers ボットで削除 (GRAPH_ALLOW_DELETE) for the
	// registrations that Leave must see gone.
	BotDelete bool
	// Decline offers 「パスキーは使わない」: the user goes on without what
	// the row's check looks for, and the dialog records it.
	Decline bool
	// NewGone is where the user goes when checkDeleted finds the new
	// phone deleted by mistake: to add it again.
	NewGone StepID
	// Remind is what a reminder at this step says; once the new phone is
	// confirmed every reminder is about the old one.
	Remind remind
}

// procedure is the company's procedure (seed: "MFA 用スマートデバイス交換手順書"),
// one row per card, in order.
var procedure = []step{
	{ID: StepCautions, Section: "1.0"},
	{ID: StepOldPhone, Section: "1.0", Lost: true},
	{ID: StepOpenPage, Section: "2.0 (1)", Leave: checkSnapshot},
	{ID: StepAddMethod, Section: "2.0 (2)-(3)", Leave: checkSnapshot},
	{ID: StepInstallApp, Section: "2.0 (4)", Leave: checkSnapshot},
	{ID: StepShowQR, Section: "2.0 (5)-(7)"},
	{ID: StepEnterNumber, Section: "2.0 (8)-(9)"},
	{ID: StepConfirmNew, Section: "2.0 (10)", Enter: checkNew, Leave: checkNew},
	{ID: StepAddPasskey, Section: "2.0 (11)", Leave: checkNewPasskey, Decline: true, Only: hadPasskey},
	{ID: StepDeleteOld, Section: "2.1 (1)-(2)", Leave: checkDeleted, BotDelete: true, NewGone: StepAddMethod, Remind: remindOldPhone,
		Skip: &skip{When: noOldRegistration, Note: "old.none", Log: "no old registration: deletion skipped"}},
	{ID: StepRemoveAccount, Section: "2.1 (3)-(5)", Remind: remindOldPhone},
}

// skip is when a step is passed over and what is said of it.
type skip struct {
	When func(s *state) bool
	// Note is the catalog key of what the next card says about it.
	Note string
	// Log is what the dialog's timeline records.
	Log string
}

// lostBranch is the row of the lost-phone branch: it hangs off the step
// that offers 紛失・故障した and goes back to it.
var lostBranch = step{ID: stepLost, Section: "1.0", Back: StepOldPhone}

// noOldRegistration: the snapshot held nothing but the new phone has been
// found, so there is nothing old to delete or ask about.
func noOldRegistration(s *state) bool { return s.New != nil && len(s.Old) == 0 && len(s.Oath) == 0 }

// hadPasskey: the old phone held a passkey in Authenticator, which does not
// move to the new phone by itself.
func hadPasskey(s *state) bool { return s.Passkey }

// in reports whether row st exists for s (see step.Only).
func (st *step) in(s *state) bool { return st.Only == nil || st.Only(s) }

// position is row i's 1-based place among the rows s has, and their
// count: "step i of n".
func position(i int, s *state) (at, of int) {
	for j := range procedure {
		if !procedure[j].in(s) {
			continue
		}
		of++
		if j <= i {
			at = of
		}
	}
	return at, of
}

// Steps returns the ids of the procedure's steps in order: what the step
// content file must describe, and the funnel's steps.
func Steps() []string {
	ids := make([]string, len(procedure))
	for i, st := range procedure {
		ids[i] = string(st.ID)
	}
	return ids
}

// rowOf returns the 0-based position of id in the procedure (-1 for the
// lost branch or an unknown id) and its row.
func rowOf(id StepID) (int, *step) {
	switch id {
	case stepLost:
		return -1, &lostBranch
	case stepPickOld:
		return -1, &pickOldBranch
	}
	i := slices.IndexFunc(procedure, func(st step) bool { return st.ID == id })
	if i < 0 {
		return -1, nil
	}
	return i, &procedure[i]
}

// first is the step a new dialog starts at.
func first() StepID { return procedure[0].ID }

// back is where 戻る goes from row i ("" when nowhere): the row's Back, or
// the previous row that s has.
func back(i int, st *step, s *state) StepID {
	if st.Back != "" {
		return st.Back
	}
	for j := i - 1; j >= 0; j-- {
		if procedure[j].in(s) {
			return procedure[j].ID
		}
	}
	return ""
}

// forward is the row after row i, passing over rows whose Skip holds for
// s (skipped is the last one passed over); nil after the last row.
func forward(i int, s *state) (next *step, skipped *skip) {
	for j := i + 1; j < len(procedure); j++ {
		if !procedure[j].in(s) {
			continue
		}
		if sk := procedure[j].Skip; sk != nil && sk.When(s) {
			skipped = sk
			continue
		}
		return &procedure[j], skipped
	}
	return nil, skipped
}

// skipped reports whether row st is passed over for s (or not there).
func (st *step) skipped(s *state) bool { return !st.in(s) || st.Skip != nil && st.Skip.When(s) }

// reminderAbout is what a reminder of s says: once the new phone is
// confirmed, that the old one is still registered.
func reminderAbout(s *state) remind {
	if s.New != nil {
		return remindOldPhone
	}
	if _, st := rowOf(s.Step); st != nil {
		return st.Remind
	}
	return remindResume
}

// forgetsNew reports whether arriving at to (going back) forgets the new
// registration: to comes before the row that checks for it.
func forgetsNew(to StepID) bool {
	i, _ := rowOf(to)
	return i >= 0 && slices.ContainsFunc(procedure[i+1:], func(st step) bool { return st.Enter == checkNew })
}

// forgetsNewPasskey reports whether arriving at to (going back) forgets
// the new passkey: to comes before the row that checks for it.
func forgetsNewPasskey(to StepID) bool {
	i, _ := rowOf(to)
	return i >= 0 && slices.ContainsFunc(procedure[i+1:], func(st step) bool { return st.Leave == checkNewPasskey })
}

// LoadContent parses a step content file (STEPS_FILE) and checks it
// against the procedure: every step has content, and there is none for a
// step that does not exist. name appears in errors (usually the path).
func LoadContent(name string, data []byte) (*cards.Content, error) {
	return cards.ParseContent(name, data, Steps())
}

// DefaultContent is the embedded step content, whose steps are the
// procedure's in its order (a test holds them to it).
func DefaultContent() *cards.Content {
	c := cards.DefaultContent()
	if !slices.Equal(c.StepIDs(), Steps()) {
		panic("dialogs: the embedded step content does not follow the procedure")
	}
	return c
}

// signIn is where a dialog resumes when the helpdesk issues a Temporary
// Access Pass: signing in to the security-info page (2.0 (1)), the first
// row that needs the snapshot.
func signIn() StepID {
	for _, st := range procedure {
		if st.Leave == checkSnapshot {
			return st.ID
		}
	}
	return first()
}
