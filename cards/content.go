package cards

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

//go:embed content/steps.json
var embeddedSteps []byte

// Localized is a text in each supported locale.
type Localized map[Locale]string

// In returns the text in loc, or the Japanese text when loc is missing.
func (l Localized) In(loc Locale) string {
	if s, ok := l[loc]; ok && s != "" {
		return s
	}
	return l[Japanese]
}

// Store is an app store page where Microsoft Authenticator can be installed.
type Store struct {
	ID   string    `json:"id"`
	Name Localized `json:"name"`
	URL  string    `json:"url"`
}

// OpenURL is a step's button that opens the security-info page.
type OpenURL struct {
	Title Localized `json:"title"`
}

// Image is an optional screenshot shown on a step's card.
type Image struct {
	URL string    `json:"url"`
	Alt Localized `json:"alt"`
}

// StepContent is what one step's card says. Operators may replace it
// (STEPS_FILE) when Microsoft changes its screens.
type StepContent struct {
	ID         string      `json:"id"`
	Section    string      `json:"section"`
	Title      Localized   `json:"title"`
	Lines      []Localized `json:"lines"`
	OpenURL    *OpenURL    `json:"openUrl,omitempty"`
	ShowStores bool        `json:"showStores,omitempty"`
	Images     []Image     `json:"images,omitempty"`
}

// Content is the step content file.
type Content struct {
	Version         int           `json:"version"`
	SecurityInfoURL string        `json:"securityInfoUrl"`
	Helpdesk        Localized     `json:"helpdesk"`
	Stores          []Store       `json:"stores"`
	Steps           []StepContent `json:"steps"`

	byID map[string]*StepContent
	qr   map[string]string // store id → QR code data URI, made once at load
}

// Step returns the content of step id, or nil.
func (c *Content) Step(id string) *StepContent { return c.byID[id] }

// DefaultContent returns the embedded step content, parsed without a
// procedure to check its step ids against (the dialogs package checks the
// embedded file against its step table).
func DefaultContent() *Content {
	c, err := ParseContent("embedded steps.json", embeddedSteps, nil)
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return c
}

// StepIDs returns the ids of the content's steps, in the file's order.
func (c *Content) StepIDs() []string {
	ids := make([]string, len(c.Steps))
	for i, s := range c.Steps {
		ids[i] = s.ID
	}
	return ids
}

// ContentError names the file, step and field at fault.
type ContentError struct {
	File, Step, Field, Problem string
}

func (e *ContentError) Error() string {
	where := e.File
	if e.Step != "" {
		where += ": step " + e.Step
	}
	if e.Field != "" {
		where += ": " + e.Field
	}
	return where + ": " + e.Problem
}

// ParseContent decodes and validates a step content file. name is used in
// error messages (usually the file's path). steps are the ids of the
// procedure's steps (the dialog's step table): every one needs content, and
// content for any other id is refused. With nil steps the ids are not
// checked against a procedure.
func ParseContent(name string, data []byte, steps []string) (*Content, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Content
	if err := dec.Decode(&c); err != nil {
		return nil, &ContentError{File: name, Problem: "not valid step content JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &ContentError{File: name, Problem: "trailing data after the JSON document"}
	}
	if c.Version != 1 {
		return nil, &ContentError{File: name, Field: "version", Problem: fmt.Sprintf("is %d, want 1", c.Version)}
	}
	if err := checkURL(c.SecurityInfoURL); err != nil {
		return nil, &ContentError{File: name, Field: "securityInfoUrl", Problem: err.Error()}
	}
	if err := checkLocalized(c.Helpdesk); err != nil {
		return nil, &ContentError{File: name, Field: "helpdesk", Problem: err.Error()}
	}
	if len(c.Stores) == 0 {
		return nil, &ContentError{File: name, Field: "stores", Problem: "at least one app store is required"}
	}
	for i, s := range c.Stores {
		field := fmt.Sprintf("stores[%d]", i)
		if s.ID == "" {
			return nil, &ContentError{File: name, Field: field + ".id", Problem: "is empty"}
		}
		if err := checkLocalized(s.Name); err != nil {
			return nil, &ContentError{File: name, Field: field + ".name", Problem: err.Error()}
		}
		if err := checkURL(s.URL); err != nil {
			return nil, &ContentError{File: name, Field: field + ".url", Problem: err.Error()}
		}
	}
	c.qr = make(map[string]string, len(c.Stores))
	for i, s := range c.Stores {
		uri, err := qrDataURI(s.URL)
		if err != nil {
			return nil, &ContentError{File: name, Field: fmt.Sprintf("stores[%d].url", i), Problem: err.Error()}
		}
		c.qr[s.ID] = uri
	}
	c.byID = make(map[string]*StepContent, len(c.Steps))
	for i := range c.Steps {
		s := &c.Steps[i]
		if s.ID == "" {
			return nil, &ContentError{File: name, Field: fmt.Sprintf("steps[%d].id", i), Problem: "is empty"}
		}
		if c.byID[s.ID] != nil {
			return nil, &ContentError{File: name, Step: s.ID, Field: "id", Problem: "appears twice"}
		}
		c.byID[s.ID] = s
		if err := checkLocalized(s.Title); err != nil {
			return nil, &ContentError{File: name, Step: s.ID, Field: "title", Problem: err.Error()}
		}
		if len(s.Lines) == 0 {
			return nil, &ContentError{File: name, Step: s.ID, Field: "lines", Problem: "at least one line is required"}
		}
		for j, l := range s.Lines {
			if err := checkLocalized(l); err != nil {
				return nil, &ContentError{File: name, Step: s.ID, Field: fmt.Sprintf("lines[%d]", j), Problem: err.Error()}
			}
		}
		if s.OpenURL != nil {
			if err := checkLocalized(s.OpenURL.Title); err != nil {
				return nil, &ContentError{File: name, Step: s.ID, Field: "openUrl.title", Problem: err.Error()}
			}
		}
		for j, im := range s.Images {
			if err := checkURL(im.URL); err != nil {
				return nil, &ContentError{File: name, Step: s.ID, Field: fmt.Sprintf("images[%d].url", j), Problem: err.Error()}
			}
		}
	}
	if steps == nil {
		return &c, nil
	}
	for _, id := range steps {
		if c.byID[id] == nil {
			return nil, &ContentError{File: name, Step: id, Problem: "is missing (every step of the procedure needs content)"}
		}
	}
	for _, s := range c.Steps {
		if !slices.Contains(steps, s.ID) {
			return nil, &ContentError{File: name, Step: s.ID, Field: "id", Problem: "is not a step of the procedure (known: " + strings.Join(steps, ", ") + ")"}
		}
	}
	return &c, nil
}

func checkLocalized(l Localized) error {
	for loc := range l {
		if loc != Japanese && loc != English {
			return fmt.Errorf("unknown language %q (use ja and en)", loc)
		}
	}
	if strings.TrimSpace(l[Japanese]) == "" {
		return fmt.Errorf("the Japanese text (ja) is required")
	}
	if strings.TrimSpace(l[English]) == "" {
		return fmt.Errorf("the English text (en) is required")
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", s)
	}
	return nil
}
