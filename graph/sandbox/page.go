package sandbox

import (
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	mrand "math/rand/v2"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

// maxDeviceName is the longest device name the page API accepts, in characters.
const maxDeviceName = 64

// jst is the time zone the page writes registration dates in.
var jst = time.FixedZone("JST", 9*60*60)

// pageData feeds page.html.
type pageData struct {
	Nonce    string
	Problem  string // set: the page shows this message instead of the list
	UserID   string
	Name     string
	UPN      string
	APIRoot  string // path of the page API, pagePath+"/api"
	Methods  []pageMethod
	Passkeys []pagePasskey
	Oath     []pageOath
	Default  string // the default sign-in method line
	QR       string // trusted markup made here
	OathQR   string // trusted markup made here
	CSS      string // trusted, embedded
	JS       string // trusted, embedded
}

type pageMethod struct{ ID, DisplayName string }

// pagePasskey is a passkey as the page shows it, in its row and in the page
// API.
type pagePasskey struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	AAGUID          string `json:"aaGuid"`
	Kind            string `json:"kind"`     // the row's title
	Platform        string `json:"platform"` // "iOS", "Android", or "" for a security key
	CreatedDateTime string `json:"createdDateTime"`
	Created         string `json:"created"` // the registration date as the row writes it (JST)
}

// pageOath is an "other authenticator app" (software OATH) as the page
// shows it: Graph tells nothing but the id, so the row shows its start.
type pageOath struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// methodJSON is a method as the page API shows it.
type methodJSON struct {
	ID              string  `json:"id"`
	DisplayName     string  `json:"displayName"`
	PhoneAppVersion string  `json:"phoneAppVersion"`
	CreatedDateTime *string `json:"createdDateTime"`
}

type pageUserJSON struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
}

type pageListJSON struct {
	User          pageUserJSON  `json:"user"`
	Methods       []methodJSON  `json:"methods"`
	Passkeys      []pagePasskey `json:"passkeys"`
	SoftwareOath  []pageOath    `json:"softwareOath"`
	DefaultMethod string        `json:"defaultMethod"`
}

// pageCollection is one collection of the page API, under pagePath+"/api/".
type pageCollection struct {
	add    func(s *Sandbox, w http.ResponseWriter, r *http.Request)
	delete func(u *user, id string) bool
}

// pageCollections are the page API's collections: GET …/methods lists
// them all; POST adds to one; DELETE …/{name}/{id} removes from one.
var pageCollections = map[string]pageCollection{
	"methods":      {add: (*Sandbox).apiAdd, delete: (*user).deleteMethod},
	"passkeys":     {add: (*Sandbox).apiAddPasskey, delete: (*user).deletePasskey},
	"softwareOath": {add: (*Sandbox).apiAddSoftwareOath, delete: (*user).deleteSoftwareOath},
}

// servePage serves the security-info page at pagePath and its API under
// pagePath+"/api/".
func (s *Sandbox) servePage(w http.ResponseWriter, r *http.Request, pagePath string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	rest := strings.TrimPrefix(r.URL.Path, pagePath)
	if rest == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.renderPage(w, r, pagePath+"/api")
		return
	}
	name, id, hasID := strings.Cut(strings.TrimPrefix(rest, "/api/"), "/")
	coll, ok := pageCollections[name]
	switch {
	case !strings.HasPrefix(rest, "/api/") || !ok || strings.Contains(id, "/"):
		http.NotFound(w, r)
	case hasID:
		if r.Method != http.MethodDelete {
			w.Header().Set("Allow", "DELETE")
			apiError(w, http.StatusMethodNotAllowed, "この操作はできません。")
			return
		}
		s.apiDelete(w, r, id, coll.delete)
	case r.Method == http.MethodGet && name == "methods":
		s.apiList(w, r)
	case r.Method == http.MethodPost:
		coll.add(s, w, r)
	default:
		allow := "POST"
		if name == "methods" {
			allow = "GET, POST"
		}
		w.Header().Set("Allow", allow)
		apiError(w, http.StatusMethodNotAllowed, "この操作はできません。")
	}
}

func (s *Sandbox) renderPage(w http.ResponseWriter, r *http.Request, apiRoot string) {
	d := pageData{
		Nonce:   newNonce(),
		APIRoot: apiRoot,
		QR:      qrSVG("qr-code"),
		OathQR:  qrSVG("oath-qr-code"),
		CSS:     pageCSS,
		JS:      pageJS,
	}
	status := http.StatusOK
	id := r.URL.Query().Get("user")
	switch {
	case id == "":
		status = http.StatusBadRequest
		d.Problem = "ユーザーが指定されていません。ボットから届いたリンク (…/security-info?user=<ユーザー ID>) を開いてください。"
	default:
		s.mu.Lock()
		if u := s.userLocked(id); u != nil {
			d.UserID, d.Name, d.UPN = id, u.displayName, u.upn
			for _, m := range u.methods {
				d.Methods = append(d.Methods, pageMethod{ID: m.ID, DisplayName: m.DisplayName})
			}
			for _, p := range u.passkeys {
				d.Passkeys = append(d.Passkeys, passkeyOf(p))
			}
			for _, id := range u.softwareOath {
				d.Oath = append(d.Oath, oathOf(id))
			}
			d.Default = defaultMethod(u)
		}
		s.mu.Unlock()
		if d.UserID == "" {
			status = http.StatusNotFound
			d.Problem = "ユーザー「" + id + "」は見つかりません。ユーザー ID (GUID) またはユーザー プリンシパル名 (例: user@example.com) を指定してください。"
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%[1]s'; style-src 'nonce-%[1]s'; img-src data:; connect-src 'self'; "+
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'", d.Nonce))
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, renderPage(d))
}

// renderPage fills page.html. It is done by hand rather than with
// html/template: text/template's reflection makes the linker keep every
// method of every type held in an interface, which tripled the bot's
// binary. Every value from a user or the URL is HTML-escaped here.
func renderPage(d pageData) string {
	page, row := cut(pageHTML, "<!--ROW-->", "<!--/ROW-->")
	page, passkeyRow := cut(page, "<!--PASSKEYROW-->", "<!--/PASSKEYROW-->")
	page, oathRow := cut(page, "<!--OATHROW-->", "<!--/OATHROW-->")
	page = strings.TrimRight(page, "\n") + "\n"
	rowFor := func(m pageMethod) string {
		return fill(row, "@ID@", m.ID, "@NAME@", m.DisplayName)
	}
	passkeyRowFor := func(p pagePasskey) string {
		return fill(passkeyRow, "@ID@", p.ID, "@NAME@", p.DisplayName, "@KIND@", p.Kind,
			"@PLATFORM@", p.Platform, "@CREATED@", p.Created, "@CREATEDISO@", p.CreatedDateTime)
	}
	oathRowFor := func(o pageOath) string {
		return fill(oathRow, "@ID@", o.ID, "@LABEL@", o.Label)
	}
	if d.Problem != "" {
		page = keep(page, "PROBLEM", true)
		page = keep(page, "LIST", false)
		page = keep(page, "TAIL", false)
	} else {
		page = keep(page, "PROBLEM", false)
		page = keep(page, "LIST", true)
		page = keep(page, "TAIL", true)
	}
	var rows strings.Builder
	for _, m := range d.Methods {
		rows.WriteString("      " + rowFor(m) + "\n")
	}
	for _, p := range d.Passkeys {
		rows.WriteString("      " + passkeyRowFor(p) + "\n")
	}
	for _, o := range d.Oath {
		rows.WriteString("      " + oathRowFor(o) + "\n")
	}
	who, def := "", d.Default
	if d.UPN != "" {
		who = `  <span class="who">` + html.EscapeString(d.UPN) + "</span>\n"
	}
	if def == "" {
		def = defaultMethodUnset
	}
	return strings.NewReplacer(
		"@NONCE@", html.EscapeString(d.Nonce),
		"@CSS@", d.CSS, "@JS@", d.JS, "@QR@", d.QR, "@OATHQR@", d.OathQR,
		"@USERID@", html.EscapeString(d.UserID),
		"@APIROOT@", html.EscapeString(d.APIRoot),
		"@API@", html.EscapeString(d.APIRoot+"/methods"),
		"@WHO@", who,
		"@PROBLEM@", html.EscapeString(d.Problem),
		"@DEFAULT@", html.EscapeString(def),
		"@ROWS@", rows.String(),
		"@EMPTYROW@", rowFor(pageMethod{}),
		"@EMPTYPASSKEYROW@", passkeyRowFor(pagePasskey{}),
		"@EMPTYOATHROW@", oathRowFor(pageOath{}),
	).Replace(page)
}

// fill replaces each @KEY@ of tmpl with the HTML-escaped value after it in
// keyValues.
func fill(tmpl string, keyValues ...string) string {
	kv := make([]string, len(keyValues))
	for i, v := range keyValues {
		if i%2 == 1 {
			v = html.EscapeString(v)
		}
		kv[i] = v
	}
	return strings.NewReplacer(kv...).Replace(tmpl)
}

// The default sign-in method line: push when the user has an Authenticator,
// else a code when they have another authenticator app.
const (
	defaultMethodPush  = "既定のサインイン方法: Microsoft Authenticator - 通知"
	defaultMethodCode  = "既定のサインイン方法: 認証アプリまたはハードウェア トークン - コード"
	defaultMethodUnset = "既定のサインイン方法を設定します"
)

func defaultMethod(u *user) string {
	switch {
	case len(u.methods) > 0:
		return defaultMethodPush
	case len(u.softwareOath) > 0:
		return defaultMethodCode
	default:
		return defaultMethodUnset
	}
}

// cut removes the part between open and close (markers included) from s
// and returns s without it and the part.
func cut(s, open, close string) (rest, part string) {
	i, j := strings.Index(s, open), strings.Index(s, close)
	if i < 0 || j < i {
		return s, ""
	}
	return s[:i] + s[j+len(close):], s[i+len(open) : j]
}

// keep keeps or drops the section <!--NAME-->…<!--/NAME--> (markers go).
func keep(s, name string, yes bool) string {
	rest, part := cut(s, "<!--"+name+"-->", "<!--/"+name+"-->")
	if !yes {
		return rest
	}
	i := strings.Index(s, "<!--"+name+"-->")
	if i < 0 {
		return s
	}
	return rest[:i] + part + rest[i:]
}

// apiList: GET …/api/methods?user=… → every method the page lists.
func (s *Sandbox) apiList(w http.ResponseWriter, r *http.Request) {
	var out pageListJSON
	if !s.apiUser(w, r, func(u *user) {
		out.User = pageUserJSON{ID: u.id, DisplayName: u.displayName, UserPrincipalName: u.upn}
		out.Methods = make([]methodJSON, 0, len(u.methods))
		for _, m := range u.methods {
			out.Methods = append(out.Methods, methodOf(m))
		}
		out.Passkeys = make([]pagePasskey, 0, len(u.passkeys))
		for _, p := range u.passkeys {
			out.Passkeys = append(out.Passkeys, passkeyOf(p))
		}
		out.SoftwareOath = make([]pageOath, 0, len(u.softwareOath))
		for _, id := range u.softwareOath {
			out.SoftwareOath = append(out.SoftwareOath, oathOf(id))
		}
		out.DefaultMethod = defaultMethod(u)
	}) {
		return
	}
	apiJSON(w, http.StatusOK, out)
}

// readJSON decodes the JSON body of a page API request into v, answering
// 415 or 400 itself when it cannot. Requiring application/json also makes
// a browser ask before sending it from another site.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, "Content-Type は application/json にしてください。")
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "要求の JSON を読めません。")
		return false
	}
	return true
}

// deviceName returns the trimmed device name from the page, or a problem
// to show when it cannot be used.
func deviceName(raw string) (name, problem string) {
	name = strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", "デバイス名を入力してください。"
	case utf8.RuneCountInString(name) > maxDeviceName:
		return "", fmt.Sprintf("デバイス名は %d 文字以内で入力してください。", maxDeviceName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name):
		return "", "デバイス名に使えない文字が含まれています。"
	}
	return name, ""
}

// apiAdd: POST …/api/methods?user=… {"displayName": "…"} → 201 with the method.
func (s *Sandbox) apiAdd(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) {
		return
	}
	var req struct {
		DisplayName string `json:"displayName"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	name, problem := deviceName(req.DisplayName)
	if problem != "" {
		apiError(w, http.StatusBadRequest, problem)
		return
	}
	var m Method
	if !s.apiUser(w, r, func(u *user) {
		created := s.now().UTC().Truncate(time.Second)
		m = Method{ID: newGUID(), DisplayName: name, PhoneAppVersion: newAppVersion, Created: &created}
		u.methods = append(u.methods, m)
	}) {
		return
	}
	apiJSON(w, http.StatusCreated, methodOf(m))
}

// passkeyPlatforms maps the page's platform choice to Authenticator's AAGUID.
var passkeyPlatforms = map[string]string{
	"":        AuthenticatorIOSAAGUID,
	"ios":     AuthenticatorIOSAAGUID,
	"android": AuthenticatorAndroidAAGUID,
}

// apiAddPasskey: POST …/api/passkeys?user=… {"displayName": "…", "platform":
// "ios"|"android"} → 201 with the passkey. The platform, iOS by default,
// picks Authenticator's AAGUID.
func (s *Sandbox) apiAddPasskey(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) {
		return
	}
	var req struct {
		DisplayName string `json:"displayName"`
		Platform    string `json:"platform"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	name, problem := deviceName(req.DisplayName)
	if problem != "" {
		apiError(w, http.StatusBadRequest, problem)
		return
	}
	aaguid, ok := passkeyPlatforms[req.Platform]
	if !ok {
		apiError(w, http.StatusBadRequest, "スマートフォンの種類は ios か android を指定してください。")
		return
	}
	var p Passkey
	if !s.apiUser(w, r, func(u *user) {
		p = newPasskey(name, aaguid, s.now().UTC().Truncate(time.Second))
		u.passkeys = append(u.passkeys, p)
	}) {
		return
	}
	apiJSON(w, http.StatusCreated, passkeyOf(p))
}

// apiAddSoftwareOath: POST …/api/softwareOath?user=… {} → 201 with the new
// "other authenticator app".
func (s *Sandbox) apiAddSoftwareOath(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) {
		return
	}
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	var id string
	if !s.apiUser(w, r, func(u *user) { id = u.addSoftwareOath() }) {
		return
	}
	apiJSON(w, http.StatusCreated, oathOf(id))
}

// apiDelete: DELETE …/api/{collection}/{id}?user=… → 204, removing with del.
func (s *Sandbox) apiDelete(w http.ResponseWriter, r *http.Request, escapedID string, del func(u *user, id string) bool) {
	if !sameOrigin(w, r) {
		return
	}
	id, err := url.PathUnescape(escapedID)
	if err != nil {
		apiError(w, http.StatusNotFound, "このサインイン方法は見つかりません。")
		return
	}
	var found bool
	if !s.apiUser(w, r, func(u *user) { found = del(u, id) }) {
		return
	}
	if !found {
		apiError(w, http.StatusNotFound, "このサインイン方法は見つかりません。すでに削除されている可能性があります。")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiUser runs fn with s.mu held on the user of the "user" query parameter,
// answering 400 when it is missing and 404 when it names no possible user.
func (s *Sandbox) apiUser(w http.ResponseWriter, r *http.Request, fn func(u *user)) bool {
	id := r.URL.Query().Get("user")
	if id == "" {
		apiError(w, http.StatusBadRequest, "ユーザーが指定されていません (?user=<ユーザー ID>)。")
		return false
	}
	s.mu.Lock()
	u := s.userLocked(id)
	if u != nil {
		fn(u)
	}
	s.mu.Unlock()
	if u == nil {
		apiError(w, http.StatusNotFound, "ユーザーが見つかりません。")
		return false
	}
	return true
}

// sameOrigin refuses (403) a state-changing request that a browser sent from
// another site: its Origin, when present, must be this origin, and its
// Sec-Fetch-Site, when present, same-origin or none.
func sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	ok := true
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		ok = err == nil && strings.EqualFold(u.Host, r.Host) && (u.Scheme == "http" || u.Scheme == "https")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		ok = false
	}
	if !ok {
		apiError(w, http.StatusForbidden, "ほかのサイトからの要求は受け付けません。")
	}
	return ok
}

func methodOf(m Method) methodJSON {
	out := methodJSON{ID: m.ID, DisplayName: m.DisplayName, PhoneAppVersion: m.PhoneAppVersion}
	if m.Created != nil {
		s := m.Created.UTC().Format(time.RFC3339)
		out.CreatedDateTime = &s
	}
	return out
}

// passkeyOf shows a passkey as the page does: a passkey in Authenticator
// with its phone's platform, anything else as a security key.
func passkeyOf(p Passkey) pagePasskey {
	out := pagePasskey{
		ID:              p.ID,
		DisplayName:     p.DisplayName,
		AAGUID:          p.AAGUID,
		Kind:            "パスキー (Microsoft Authenticator)",
		CreatedDateTime: p.Created.UTC().Format(time.RFC3339),
		Created:         p.Created.In(jst).Format("2006/01/02 15:04"),
	}
	switch p.AAGUID {
	case AuthenticatorIOSAAGUID:
		out.Platform = "iOS"
	case AuthenticatorAndroidAAGUID:
		out.Platform = "Android"
	default:
		out.Kind = "セキュリティ キー"
	}
	return out
}

func oathOf(id string) pageOath {
	short, _, _ := strings.Cut(id, "-")
	return pageOath{ID: id, Label: "識別子 " + short}
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// qrSVG draws a QR-like picture with the element id: the three finder
// squares, the timing lines and random modules. It encodes nothing.
func qrSVG(id string) string {
	const n = 25
	dark := func(x, y int) bool {
		for _, f := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			dx, dy := x-f[0], y-f[1]
			if dx >= -1 && dx <= 7 && dy >= -1 && dy <= 7 { // finder plus its white separator
				if dx < 0 || dx > 6 || dy < 0 || dy > 6 {
					return false
				}
				ring := dx == 0 || dx == 6 || dy == 0 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				return ring || core
			}
		}
		if x == 6 || y == 6 {
			return (x+y)%2 == 0
		}
		return mrand.IntN(2) == 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%[1]s" data-testid="%[1]s" class="qr" viewBox="-3 -3 %[2]d %[2]d" width="176" height="176" role="img" aria-label="QR コード (サンドボックスの見本)" shape-rendering="crispEdges">`, id, n+6)
	fmt.Fprintf(&b, `<rect x="-3" y="-3" width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n+6, n+6)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if dark(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
