package sandbox

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/smartswap/mfabot/internal/loopback"
)

// Defaults of Options.
const (
	DefaultInitialDevice = "iPhone SE (3rd generation)"
	DefaultBasePath      = "/sandbox"
)

// Phone app versions the sandbox reports: the initial (old) device runs an
// older Authenticator than the devices added later.
const (
	initialAppVersion = "6.8.7"
	newAppVersion     = "6.8.22"
	deviceTag         = "SoftwareTokenActivated"
)

// Options configures a Sandbox. The zero value is usable.
type Options struct {
	// Now returns the current time. It stamps createdDateTime of new methods
	// and the date of error bodies. Default time.Now.
	Now func() time.Time
	// InitialDevice is the name of the old Microsoft Authenticator every user
	// starts with. Default DefaultInitialDevice.
	InitialDevice string
	// BasePath is the path prefix of everything the sandbox serves, with a
	// leading slash and no trailing one. Default DefaultBasePath; "/" serves
	// at the root.
	BasePath string
}

// Method is one Microsoft Authenticator registered for a user.
type Method struct {
	// ID is the method id (a lower-case GUID), the {id} of
	// …/microsoftAuthenticatorMethods/{id}.
	ID string
	// DisplayName is the device name.
	DisplayName string
	// PhoneAppVersion is the Authenticator version on the device.
	PhoneAppVersion string
	// Created is the registration time, or nil like Graph's null
	// createdDateTime (the initial device: not registered for passwordless
	// sign-in).
	Created *time.Time
}

// Fault makes the next Graph calls fail or wait. Only the Graph endpoints
// are affected, never the security-info page.
type Fault struct {
	// Status is the HTTP status to answer with, 400–599, with a Graph error
	// body (403: Authorization_RequestDenied, 429: TooManyRequests, 503:
	// serviceNotAvailable, …). 0 answers normally (after Delay).
	Status int
	// RetryAfter, when positive, is sent as the Retry-After header (seconds)
	// with the fault's status.
	RetryAfter int
	// Count is how many Graph calls the fault applies to: 0 means 1, a
	// negative count means every call until the next SetFault.
	Count int
	// Delay holds each affected call this long before it is answered. A
	// request whose context ends first gets no answer.
	Delay time.Duration
}

// Sandbox is an in-memory stand-in for the Microsoft Graph endpoints the bot
// uses, with a security-info page. It is safe for concurrent use.
type Sandbox struct {
	now           func() time.Time
	initialDevice string
	base          string
	handler       http.Handler

	mu        sync.Mutex
	byID      map[string]*user // lower-case object id → user
	byUPN     map[string]*user // lower-case userPrincipalName → user
	fault     Fault
	faultLeft int // calls the fault still applies to; negative: unlimited
}

type user struct {
	id, upn, displayName string
	created              time.Time
	methods              []Method
	tap                  *tapMethod
	revocations          int
}

type tapMethod struct {
	id              string
	pass            string
	created, start  time.Time
	lifetimeMinutes int
	usableOnce      bool
}

// New returns an empty Sandbox. It does no I/O.
func New(o Options) *Sandbox {
	s := &Sandbox{
		now:           o.Now,
		initialDevice: o.InitialDevice,
		base:          o.BasePath,
		byID:          make(map[string]*user),
		byUPN:         make(map[string]*user),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.initialDevice == "" {
		s.initialDevice = DefaultInitialDevice
	}
	if s.base == "" {
		s.base = DefaultBasePath
	}
	s.base = "/" + strings.Trim(s.base, "/")
	if s.base == "/" {
		s.base = ""
	}
	s.handler = s.routes()
	return s
}

// BasePath returns the path prefix the sandbox serves under ("" for the root).
func (s *Sandbox) BasePath() string { return s.base }

// Handler returns the handler of BasePath+"/graph/v1.0/…" and
// BasePath+"/security-info". It expects full request paths: mount it with
// mux.Handle(BasePath+"/", h), without http.StripPrefix. It answers only
// loopback clients.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// GraphBaseURL returns the Graph base URL to give a Graph client, e.g.
// "http://127.0.0.1:3978/sandbox/graph/v1.0" for origin
// "http://127.0.0.1:3978".
func (s *Sandbox) GraphBaseURL(origin string) string {
	return strings.TrimSuffix(origin, "/") + s.base + "/graph/v1.0"
}

// PageURL returns the address of the user's security-info page.
func (s *Sandbox) PageURL(origin, userID string) string {
	return strings.TrimSuffix(origin, "/") + s.base + "/security-info?user=" + url.QueryEscape(userID)
}

// AddMethod registers a new Authenticator named deviceName for the user (an
// object id or a UPN; the user is created on first sight) and returns it. If
// userID is neither, it adds nothing and returns the zero Method.
func (s *Sandbox) AddMethod(userID, deviceName string) Method {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return Method{}
	}
	created := s.now().UTC().Truncate(time.Second)
	m := Method{ID: newGUID(), DisplayName: deviceName, PhoneAppVersion: newAppVersion, Created: &created}
	u.methods = append(u.methods, m)
	return copyMethod(m)
}

// Methods returns the user's Authenticator methods in registration order,
// creating the user on first sight; nil if userID is neither an object id
// nor a UPN.
func (s *Sandbox) Methods(userID string) []Method {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return nil
	}
	return copyMethods(u.methods)
}

// DeleteMethod removes the user's method with the id and reports whether it
// existed.
func (s *Sandbox) DeleteMethod(userID, methodID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return false
	}
	return u.deleteMethod(methodID)
}

// SetFault replaces the current fault. SetFault(Fault{}) clears it.
func (s *Sandbox) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	switch {
	case f.Status == 0 && f.Delay <= 0:
		s.faultLeft = 0
	case f.Count < 0:
		s.faultLeft = -1
	case f.Count == 0:
		s.faultLeft = 1
	default:
		s.faultLeft = f.Count
	}
}

// takeFault consumes one call of the current fault, if any.
func (s *Sandbox) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faultLeft == 0 {
		return Fault{}, false
	}
	if s.faultLeft > 0 {
		s.faultLeft--
	}
	return s.fault, true
}

func (u *user) findMethod(id string) (Method, bool) {
	for _, m := range u.methods {
		if strings.EqualFold(m.ID, id) {
			return m, true
		}
	}
	return Method{}, false
}

func (u *user) deleteMethod(id string) bool {
	for i, m := range u.methods {
		if strings.EqualFold(m.ID, id) {
			u.methods = append(u.methods[:i:i], u.methods[i+1:]...)
			return true
		}
	}
	return false
}

// userLocked returns the user named by id (an object id or a UPN), creating
// them with the initial device on first sight; nil if id is neither. s.mu
// must be held.
func (s *Sandbox) userLocked(id string) *user {
	switch {
	case isGUID(id):
		key := strings.ToLower(id)
		if u := s.byID[key]; u != nil {
			return u
		}
		upn := "user-" + key[:8] + "@sandbox.example"
		if s.byUPN[upn] != nil {
			upn = "user-" + key + "@sandbox.example"
		}
		return s.addUserLocked(key, upn, key[:8])
	case isUPN(id):
		if u := s.byUPN[strings.ToLower(id)]; u != nil {
			return u
		}
		suffix, _, _ := strings.Cut(id, "@")
		if r := []rune(suffix); len(r) > 20 {
			suffix = string(r[:20])
		}
		return s.addUserLocked(newGUID(), id, suffix)
	default:
		return nil
	}
}

func (s *Sandbox) addUserLocked(id, upn, suffix string) *user {
	now := s.now().UTC().Truncate(time.Second)
	u := &user{
		id:          id,
		upn:         upn,
		displayName: "サンドボックス ユーザー (" + suffix + ")",
		created:     now,
		methods: []Method{{
			ID:              newGUID(),
			DisplayName:     s.initialDevice,
			PhoneAppVersion: initialAppVersion,
		}},
	}
	s.byID[id] = u
	s.byUPN[strings.ToLower(upn)] = u
	return u
}

func copyMethod(m Method) Method {
	if m.Created != nil {
		t := *m.Created
		m.Created = &t
	}
	return m
}

func copyMethods(ms []Method) []Method {
	out := make([]Method, len(ms))
	for i, m := range ms {
		out[i] = copyMethod(m)
	}
	return out
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// isUPN reports whether s looks like a userPrincipalName: local@domain, with
// no spaces, control characters, slashes or quotes-breaking characters.
func isUPN(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || len(s) > 320 || strings.Contains(domain, "@") {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`/\?#"<>%`, r) {
			return false
		}
	}
	return true
}

// newGUID returns a random (version 4) GUID in lower case.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// routes builds the whole surface: a loopback guard in front of the Graph
// endpoints and the security-info page.
func (s *Sandbox) routes() http.Handler {
	graphPrefix := s.base + "/graph/v1.0"
	pagePath := s.base + "/security-info"
	return loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == graphPrefix || strings.HasPrefix(p, graphPrefix+"/"):
			s.serveGraph(w, r, graphPrefix)
		case p == pagePath || strings.HasPrefix(p, pagePath+"/"):
			s.servePage(w, r, pagePath)
		default:
			http.NotFound(w, r)
		}
	}))
}

// loopbackOnly refuses (403) a request that did not come straight from this
// machine: a RemoteAddr that is not loopback, a Host that is not a loopback
// name (DNS rebinding), or proxy forwarding headers (a local reverse proxy or
// tunnel would make a remote client look local).
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := notLoopback(r); reason != "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "the Graph sandbox serves this machine only (loopback): %s\n", reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func notLoopback(r *http.Request) string {
	if !loopback.HostPort(r.RemoteAddr) {
		return "the client address is not loopback"
	}
	if !loopback.HostPort(r.Host) {
		return "the Host header does not name this machine"
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return "the request came through a proxy (" + h + ")"
		}
	}
	return ""
}
