package dialogs

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/smartswap/mfabot/cards"
)

// stepCards renders step cards to JSON once per look and fills in each
// dialog's id and nonce: most turns answer with a step card, and building
// and encoding it anew (a tree of maps, its keys sorted) was a sixth of a
// turn's CPU. A look is everything the card shows but the reference: the
// step, the locale and the view's fields. Cards that list a user's devices
// are rendered each time, and the cache stops growing at maxStepCards.
type stepCards struct {
	mu   sync.RWMutex
	m    map[string]*stepTemplate
	from *cards.Content // the content the templates were made from
}

// maxStepCards bounds the cache: the looks of a deployment are the steps ×
// locales × a handful of problems; per-user looks (the sandbox's page URL)
// are what the bound is for.
const maxStepCards = 4096

// Placeholders of the reference in a template: the dialog id and nonce
// are hex (newID), so they can never hold these.
const (
	holeDialog = "@@dialog@@"
	holeNonce  = "@@nonce@@"
)

// stepTemplate is a rendered card cut at the holes: parts[0] hole[0]
// parts[1] hole[1] … parts[n].
type stepTemplate struct {
	parts [][]byte
	holes []bool // true: the dialog id; false: the nonce
	size  int
}

func (sc *stepCards) render(content *cards.Content, loc cards.Locale, v cards.StepView) json.RawMessage {
	if len(v.Devices) > 0 || !plain(v.Ref.Dialog) || !plain(v.Ref.Nonce) {
		return render(cards.Step(content, loc, v))
	}
	key := lookKey(loc, v)
	sc.mu.RLock()
	t, ok := sc.m[key]
	same := sc.from == content
	sc.mu.RUnlock()
	if !ok || !same {
		t = newStepTemplate(content, loc, v)
		if t == nil {
			return render(cards.Step(content, loc, v))
		}
		sc.mu.Lock()
		if sc.m == nil || sc.from != content {
			sc.m, sc.from = map[string]*stepTemplate{}, content
		}
		if len(sc.m) < maxStepCards {
			sc.m[key] = t
		}
		sc.mu.Unlock()
	}
	return t.fill(v.Ref.Dialog, v.Ref.Nonce)
}

// plain reports whether s goes into JSON as it is (ids made by newID do):
// letters, digits, '-' and '_' only.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// lookKey is everything a step card shows but its reference.
func lookKey(loc cards.Locale, v cards.StepView) string {
	var b strings.Builder
	flag := func(on bool) {
		if on {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	for _, s := range []string{string(loc), v.Ref.Step, strconv.Itoa(v.Index), strconv.Itoa(v.Total), v.Notice, v.SecurityInfoURL, v.Found, v.Problem} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	flag(v.Checking)
	flag(v.Retry)
	flag(v.BotDelete)
	flag(v.Lost)
	return b.String()
}

func newStepTemplate(content *cards.Content, loc cards.Locale, v cards.StepView) *stepTemplate {
	v.Ref.Dialog, v.Ref.Nonce = holeDialog, holeNonce
	doc := render(cards.Step(content, loc, v))
	if doc == nil {
		return nil
	}
	t := &stepTemplate{}
	for {
		d, n := strings.Index(string(doc), holeDialog), strings.Index(string(doc), holeNonce)
		if d < 0 && n < 0 {
			break
		}
		at, hole, isDialog := d, holeDialog, true
		if d < 0 || (n >= 0 && n < d) {
			at, hole, isDialog = n, holeNonce, false
		}
		t.parts = append(t.parts, doc[:at])
		t.holes = append(t.holes, isDialog)
		doc = doc[at+len(hole):]
	}
	t.parts = append(t.parts, doc)
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// fill writes the template with the reference in its holes.
func (t *stepTemplate) fill(dialog, nonce string) json.RawMessage {
	out := make([]byte, 0, t.size+len(t.holes)*max(len(dialog), len(nonce)))
	for i, p := range t.parts {
		out = append(out, p...)
		if i < len(t.holes) {
			if t.holes[i] {
				out = append(out, dialog...)
			} else {
				out = append(out, nonce...)
			}
		}
	}
	return out
}
