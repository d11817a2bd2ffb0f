package dialogs

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartswap/mfabot/cards"
)

// stateVersion is the schema version of the stored dialog document.
const stateVersion = 1

// Dialog statuses.
const (
	statusActive    = "active"
	statusDone      = "done"
	statusCancelled = "cancelled"
)

// maxTimeline bounds the events kept per dialog.
const maxTimeline = 40

// state is one user's dialog, stored as JSON in Redis.
type state struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Step    StepID    `json:"step"`
	Nonce   string    `json:"nonce"`
	Status  string    `json:"status"`
	Locale  string    `json:"loc,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Timeline records what happened, for status and the helpdesk.
	Timeline []event `json:"tl,omitempty"`

	// Snapshot holds the ids of the user's credentials (every kind in
	// wholePhone that could be listed) before the new phone was added;
	// SnapOK says it was taken.
	Snapshot []string `json:"snap,omitempty"`
	SnapOK   bool     `json:"snapOK,omitempty"`
	// Snap keeps the snapshot's passkeys and other authenticator app
	// entries as they were listed, to name them later.
	Snap []device `json:"snapDev,omitempty"`
	// Passkey: the snapshot holds a passkey in Authenticator, so the
	// procedure gains the step that moves it to the new phone.
	Passkey bool `json:"pk,omitempty"`
	// New is the push registration found that was not in the snapshot.
	New *device `json:"new,omitempty"`
	// NewPasskey is the Authenticator passkey found that was not in the
	// snapshot; PasskeyDeclined records 「パスキーは使わない」.
	NewPasskey      *device `json:"newPk,omitempty"`
	PasskeyDeclined bool    `json:"pkNo,omitempty"`
	// Old are the snapshot's phone-bound credentials (push, Authenticator
	// passkeys) still present when New was found: what the user must
	// delete.
	Old []device `json:"old,omitempty"`
	// Oath are the snapshot's software OATH entries still present when New
	// was found. They are asked about (OathAnswer): only an entry the user
	// says was on the old phone must go.
	Oath       []device `json:"oath,omitempty"`
	OathAnswer string   `json:"oathAns,omitempty"` // "", oathOnOld, oathKept
	// TAP is when the helpdesk issued a Temporary Access Pass for this
	// dialog; the bot deletes it once the new phone is verified.
	TAP *time.Time `json:"tap,omitempty"`
	// Checking is set while the bot polls Graph for the new registration.
	Checking bool `json:"checking,omitempty"`
	// Problem is the catalog key of the last check's problem, shown on the
	// current card until the next move.
	Problem string `json:"problem,omitempty"`
	// ProblemArg fills the problem's text (device names).
	ProblemArg string `json:"problemArg,omitempty"`
	// LastError is the last directory error, kept for the helpdesk.
	LastError string `json:"lastError,omitempty"`

	// Ticket is the helpdesk ticket opened for a lost phone.
	Ticket int64 `json:"ticket,omitempty"`

	// Reached is the 1-based position of the furthest step reached, so
	// that the funnel counts each step once per dialog.
	Reached int `json:"reached,omitempty"`

	// TZ is the user's time zone as Teams last reported it.
	TZ string `json:"tz,omitempty"`
	// Remind is the reminder queued for this dialog.
	Remind *reminder `json:"rem,omitempty"`

	// Sweep is the tenant sweep job whose card opened this dialog (""
	// for a dialog the user started); Found are the Authenticator
	// registrations that sweep found, offered as the old phone.
	Sweep string   `json:"sweep,omitempty"`
	Found []device `json:"found,omitempty"`

	// By names the activity whose turn saved this state (a digest of its
	// conversation and activity ids), so that Teams' redelivery of that
	// activity, after the answer failed to leave, answers from this state
	// instead of moving the dialog again.
	By string `json:"by,omitempty"`
}

// location is the user's time zone (Asia/Tokyo when unknown).
func (s *state) location() *time.Location {
	if l := loadLocation(s.TZ); l != nil {
		return l
	}
	return tokyo
}

// device is a credential remembered by the dialog.
type device struct {
	ID      string     `json:"id"`
	Kind    Kind       `json:"kind,omitempty"` // "" (dialogs saved before kinds): push
	Name    string     `json:"name"`
	Created *time.Time `json:"created,omitempty"`
}

// kind is d's kind, push for a device saved before kinds.
func (d device) kind() Kind {
	if d.Kind == "" {
		return KindPush
	}
	return d.Kind
}

func deviceOf(m Method) device {
	return device{ID: m.ID, Kind: m.kind(), Name: m.DeviceName, Created: m.Created}
}

// Answers to "was this authenticator app on the old phone?".
const (
	oathOnOld = "old"
	oathKept  = "kept"
)

// required are the old credentials that must be gone before the deletion
// step completes: the phone-bound ones, and the OATH entries the user
// said were on the old phone.
func (s *state) required() []device {
	if s.OathAnswer != oathOnOld {
		return s.Old
	}
	return append(slices.Clip(s.Old), s.Oath...)
}

// event is one entry of a dialog's timeline.
type event struct {
	At   int64  `json:"at"` // Unix seconds
	Step StepID `json:"step"`
	What string `json:"what"`
}

func decodeState(doc []byte) (*state, error) {
	var s state
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, fmt.Errorf("decode dialog state: %w", err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("dialog state version %d not supported", s.V)
	}
	return &s, nil
}

func (s *state) encode() ([]byte, error) { return json.Marshal(s) }

// activityDigest names an activity for state.By: short, and the same for
// every delivery of it ("" when it has no id).
func activityDigest(conversationID, activityID string) string {
	if activityID == "" {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(conversationID))
	h.Write([]byte{0})
	h.Write([]byte(activityID))
	return strconv.FormatUint(h.Sum64(), 36)
}

func (s *state) active() bool { return s != nil && s.Status == statusActive }

// ref is what the buttons of the current card carry.
func (s *state) ref() cards.Ref { return cards.Ref{Dialog: s.ID, Step: string(s.Step), Nonce: s.Nonce} }

// stepIndex is the 1-based position of the current step among the rows
// the dialog has (the lost branch counts as the step it branched from),
// and how many rows it has.
func (s *state) stepIndex() int {
	at, _ := s.progress()
	return at
}

// steps is how many rows of the procedure the dialog has.
func (s *state) steps() int {
	_, of := s.progress()
	return of
}

func (s *state) progress() (at, of int) {
	i, st := rowOf(s.Step)
	if i < 0 && st != nil {
		i, _ = rowOf(st.Back)
	}
	return position(i, s)
}

func (s *state) record(now time.Time, what string) {
	s.Timeline = append(s.Timeline, event{At: now.Unix(), Step: s.Step, What: what})
	if len(s.Timeline) > maxTimeline {
		s.Timeline = slices.Delete(s.Timeline, 0, len(s.Timeline)-maxTimeline)
	}
	s.Updated = now
}

// clone copies a state deeply enough to change it without touching cur.
func (s *state) clone() *state {
	c := *s
	c.Timeline = slices.Clone(s.Timeline)
	c.Snapshot = slices.Clone(s.Snapshot)
	c.Snap = slices.Clone(s.Snap)
	c.Old = slices.Clone(s.Old)
	c.Oath = slices.Clone(s.Oath)
	c.Found = slices.Clone(s.Found)
	if s.New != nil {
		n := *s.New
		c.New = &n
	}
	if s.NewPasskey != nil {
		n := *s.NewPasskey
		c.NewPasskey = &n
	}
	if s.Remind != nil {
		r := *s.Remind
		c.Remind = &r
	}
	return &c
}

// takeSnapshot records the credentials that exist before the new phone
// is added: their ids, and whether one is a passkey in Authenticator.
func (s *state) takeSnapshot(l Listing) {
	s.Snapshot, s.Snap = s.Snapshot[:0], nil
	s.Passkey = false
	for _, m := range l.Methods {
		switch m.kind() {
		case KindPush:
			s.Snapshot = append(s.Snapshot, m.ID)
		case KindPasskey, KindOath:
			s.Snapshot = append(s.Snapshot, m.ID)
			s.Snap = append(s.Snap, deviceOf(m))
		}
		if m.kind() == KindPasskey {
			s.Passkey = true
		}
	}
	s.SnapOK = true
}

// snapOf is the snapshot's credentials of kind k (passkeys and OATH
// entries only).
func (s *state) snapOf(k Kind) []device {
	var out []device
	for _, d := range s.Snap {
		if d.kind() == k {
			out = append(out, d)
		}
	}
	return out
}

// inSnapshot is the snapshot as a set.
func (s *state) inSnapshot() map[string]bool {
	before := make(map[string]bool, len(s.Snapshot))
	for _, id := range s.Snapshot {
		before[id] = true
	}
	return before
}

// zones caches time zones by name: time.LoadLocation reads and parses the
// zone database on every call (6% of a turn's CPU under load).
var zones sync.Map // name → *time.Location, or nil for an unknown name

// loadLocation returns the named zone, nil for "" or an unknown name.
func loadLocation(name string) *time.Location {
	if name == "" {
		return nil
	}
	if l, ok := zones.Load(name); ok {
		loc, _ := l.(*time.Location)
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	if n := zonesCached.Add(1); n <= maxCachedZones {
		zones.Store(name, loc)
	}
	return loc
}

// maxCachedZones bounds the cache: names come from activities.
const maxCachedZones = 1000

var zonesCached atomic.Int64
