package dialogs

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/smartswap/mfabot/cards"
)

// stepCards renders step cards to JSON once per look and fills in each
// dialog's id and nonce, the new phone's name and the user's own page (the
// sandbox's): most turns answer with a step card, and building and
// encoding it anew (a tree of maps, its keys sorted) was a sixth of a
// turn's CPU. A look is everything the card shows but those: the step, the
// locale and the view's other fields, a few dozen in all. Cards that list a
// user's devices are rendered each time, and the cache stops growing at
// maxStepCards.
type stepCards struct {
	mu   sync.RWMutex
	m    map[string]*stepTemplate
	from *cards.Content // the content the templates were made from
}

// maxStepCards bounds the cache (a card is 2–12 KB; the store QR codes
// make step 5's the largest): the looks of a deployment are the steps ×
// locales × a handful of problems and notices.
const maxStepCards = 512

// Placeholders in a template: the dialog id and nonce are hex (newID), so
// they can never hold these; a device name or page URL that does is
// rendered as it is.
var holes = [...]string{"@@dialog@@", "@@nonce@@", "@@found@@", "@@page@@"}

const (
	holeDialog = iota
	holeNonce
	holeFound
	holePage
)

// holeValues are what a view puts in the holes, in holes' order.
func holeValues(v cards.StepView) [len(holes)]string {
	return [...]string{v.Ref.Dialog, v.Ref.Nonce, v.Found, v.SecurityInfoURL}
}

// stepTemplate is a rendered card cut at the holes: parts[0] hole[0]
// parts[1] hole[1] … parts[n].
type stepTemplate struct {
	parts [][]byte
	holes []int // an index of holes
	size  int
}

func (sc *stepCards) render(content *cards.Content, loc cards.Locale, v cards.StepView) json.RawMessage {
	if len(v.Devices) > 0 {
		return render(cards.Step(content, loc, v))
	}
	for _, val := range holeValues(v) {
		if strings.Contains(val, "@@") {
			return render(cards.Step(content, loc, v))
		}
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
	return t.fill(v)
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
	for _, s := range []string{string(loc), v.Ref.Step, strconv.Itoa(v.Index), strconv.Itoa(v.Total), v.Notice, v.Problem} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	flag(v.Found != "")
	flag(v.SecurityInfoURL != "")
	flag(v.Checking)
	flag(v.Retry)
	flag(v.BotDelete)
	flag(v.Lost)
	return b.String()
}

func newStepTemplate(content *cards.Content, loc cards.Locale, v cards.StepView) *stepTemplate {
	v.Ref.Dialog, v.Ref.Nonce = holes[holeDialog], holes[holeNonce]
	if v.Found != "" {
		v.Found = holes[holeFound]
	}
	if v.SecurityInfoURL != "" {
		v.SecurityInfoURL = holes[holePage]
	}
	doc := render(cards.Step(content, loc, v))
	if doc == nil {
		return nil
	}
	t := &stepTemplate{}
	for {
		at, which := -1, 0
		for h, hole := range holes {
			if i := strings.Index(string(doc), hole); i >= 0 && (at < 0 || i < at) {
				at, which = i, h
			}
		}
		if at < 0 {
			break
		}
		t.parts = append(t.parts, doc[:at])
		t.holes = append(t.holes, which)
		doc = doc[at+len(holes[which]):]
	}
	t.parts = append(t.parts, doc)
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// fill writes the template with the view's values in its holes, escaped
// as encoding/json escapes them.
func (t *stepTemplate) fill(v cards.StepView) json.RawMessage {
	var vals [len(holes)][]byte
	size := t.size
	for i, val := range holeValues(v) {
		if plain(val) {
			vals[i] = []byte(val)
		} else if q, err := json.Marshal(val); err == nil {
			vals[i] = q[1 : len(q)-1]
		}
		size += len(vals[i]) * 2
	}
	out := make([]byte, 0, size)
	for i, p := range t.parts {
		out = append(out, p...)
		if i < len(t.holes) {
			out = append(out, vals[t.holes[i]]...)
		}
	}
	return out
}
