package sandbox

import (
	"crypto/rand"
	"encoding/base64"
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

// Microsoft Authenticator's AAGUIDs: a passkey (a fido2 method) whose aaGuid
// is one of these lives in Microsoft Authenticator on a phone.
const (
	AuthenticatorIOSAAGUID     = "90a3ccdf-635c-4729-a248-9b709135078f"
	AuthenticatorAndroidAAGUID = "de1e552d-db1d-4423-a619-566b625cdc84"
)

// initialPasskeyAge is how long before a user is first seen the passkey of
// Options.InitialPasskey was registered: 73 days, so a user first seen at
// 2026-11-24T09:30:00Z has had it since 2026-09-12T09:30:00Z.
const initialPasskeyAge = 73 * 24 * time.Hour

// Graph's fixed ids of phone methods, one per phone type.
var phoneIDs = map[string]string{
	"mobile":          "3179e48a-750b-4051-897c-87b9720928f7",
	"alternateMobile": "b6332ec1-7057-4abe-9331-3d72feddfe41",
	"office":          "e37fc753-ff3b-4958-9484-eaa9425c82bc",
}

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
	// InitialPasskey, when true, also gives every user created on first
	// sight a passkey in Microsoft Authenticator on the initial device: a
	// fido2 method named InitialDevice with AuthenticatorIOSAAGUID (the
	// default device is an iPhone), registered 73 days before the user was
	// first seen (2026-09-12T09:30:00Z for a user first seen at
	// 2026-11-24T09:30:00Z). Default false: push only.
	InitialPasskey bool
	// PushOnly lists users, by object id or userPrincipalName (compared
	// case-insensitively), who start with push only even when
	// InitialPasskey is set, so that the short procedure stays
	// rehearsable. A user created from a UPN matches by UPN only, since
	// their object id is drawn on first sight.
	PushOnly []string
	// Population is how many synthetic users the directory holds from the
	// start, derived from their index i (0 ≤ i < Population) and never
	// stored unless something changes them: object id
	// "5a000000-0000-4000-8000-<i as 12 hex digits>", userPrincipalName
	// "user<i as 6 digits>@contoso.example", displayName "社員 <i as 6
	// digits>", a department cycling over a few Japanese names (one user in
	// seven has none), disabled (accountEnabled false) when i%97 == 96 and a
	// guest (userType "Guest") when i%89 == 88. GET /users lists them after
	// the users of AddDirectoryUser, by index. Default 0: none.
	Population int
	// TwoPhonesEvery, when positive, gives the synthetic users whose index i
	// has i%TwoPhonesEvery == 1 (every user when 1) two Microsoft
	// Authenticator push registrations: the initial device, as old as the
	// account (created 400 days before the sandbox, createdDateTime null),
	// and a newer phone with a createdDateTime. Other synthetic users have
	// the initial device only. Default 0: none has two.
	TwoPhonesEvery int
	// TwoPasskeysEvery, when positive, gives the synthetic users whose index
	// i has i%TwoPasskeysEvery == 1 (every user when 1) two passkeys in
	// Authenticator: one on the initial device (AuthenticatorIOSAAGUID) and
	// one on the newer phone (AuthenticatorAndroidAAGUID), whether or not
	// InitialPasskey is set. The others have the passkey of InitialPasskey,
	// if set (and not PushOnly), or none. Default 0: none has two.
	TwoPasskeysEvery int
	// Throttle limits the rate of Graph requests; see Throttle and
	// SetThrottle. The zero value does not throttle.
	Throttle Throttle
	// OnInstall, when set, is called once for each new installation of a
	// Teams app for a user (POST /users/{id}/teamwork/installedApps → 201)
	// with the user's object id and the app's id, so that a test harness can
	// play Teams telling the bot of it. It is called from the goroutine
	// answering the request, after the 201 is written (it may not have
	// reached the client yet) and with no lock held: it may call the
	// Sandbox, and should start a goroutine for anything slow.
	OnInstall func(userID, teamsAppID string)
	// ListSeen, when true, also lists in the directory (GET /users, after
	// AddDirectoryUser's users) every user created on first sight, so that
	// the users who talk to the bot in local mode can be swept. Default
	// false: the directory holds only what the test put there.
	ListSeen bool
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

// Passkey is one passkey (a fido2AuthenticationMethod) registered for a
// user; it lives in Microsoft Authenticator when AAGUID is one of
// Authenticator's.
type Passkey struct {
	// ID is the method id, the {id} of …/fido2Methods/{id}. Like Graph's
	// (the docs show "-2_GRUg2-HYz6_1YG4YRAQ2"), it is base64url with a
	// trailing digit, so it may hold '-' and '_'; it is compared exactly.
	ID string
	// DisplayName is the name the passkey was registered under: the
	// device's name for a passkey in Authenticator.
	DisplayName string
	// AAGUID is the authenticator's attestation GUID, in lower case:
	// AuthenticatorIOSAAGUID or AuthenticatorAndroidAAGUID for a passkey in
	// Authenticator.
	AAGUID string
	// Model is the model Graph reports. The sandbox's values are its own
	// (Graph's value for Authenticator is not documented): match on AAGUID.
	Model string
	// Created is the registration time; Graph fills createdDateTime for
	// fido2 methods, unlike for Authenticator push.
	Created time.Time
}

// Phone is one phone method (a phoneAuthenticationMethod) of a user.
type Phone struct {
	// ID is Graph's fixed id for the phone type.
	ID string
	// PhoneNumber is the number, e.g. "+81 9012345678".
	PhoneNumber string
	// PhoneType is "mobile", "alternateMobile" or "office".
	PhoneType string
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
	// Only, when set, limits the fault to one kind of Graph call, named by
	// the collection the call addresses and compared case-insensitively:
	// the segment after /users/{id}/authentication/ ("fido2Methods",
	// "microsoftAuthenticatorMethods", "methods", "softwareOathMethods",
	// "phoneMethods", "temporaryAccessPassMethods"), "revokeSignInSessions",
	// "teamwork" (Teams app installation), "users" for GET /users/{id} and
	// GET /users, "transitiveMembers" for group members, or "$batch" for
	// the POST /$batch itself (each request inside a batch is a call of its
	// own kind). Calls of other kinds are answered normally and do not use
	// up Count. "" applies to every Graph call, a $batch included.
	Only string
}

// Sandbox is an in-memory stand-in for the Microsoft Graph endpoints the bot
// uses, with a security-info page. It is safe for concurrent use.
type Sandbox struct {
	now            func() time.Time
	initialDevice  string
	initialPasskey bool
	pushOnly       map[string]bool // lower-case object ids and UPNs
	base           string
	handler        http.Handler

	// epoch is the sandbox's start, truncated to the second: the synthetic
	// users' methods are dated from it.
	epoch            time.Time
	population       int
	twoPhonesEvery   int
	twoPasskeysEvery int
	onInstall        func(userID, teamsAppID string)
	listSeen         bool
	stats            counters

	mu           sync.Mutex
	byID         map[string]*user    // lower-case object id → user
	byUPN        map[string]*user    // lower-case userPrincipalName → user
	directory    []*user             // users of AddDirectoryUser, in order
	groups       map[string][]string // lower-case group id → members, as given
	materialized int                 // synthetic users stored in byID
	fault        Fault
	faultLeft    int // calls the fault still applies to; negative: unlimited
	throttle     bucket
}

// profile is what the directory knows of a user: what GET /users lists.
type profile struct {
	id, upn, displayName string
	department           string // "" when not set
	disabled             bool   // accountEnabled false
	guest                bool   // userType "Guest"
	created              time.Time
}

// user is a stored user: one seen through Graph, the page or the Go
// methods, one of AddDirectoryUser, or a synthetic user something changed.
type user struct {
	profile
	methods       []Method
	passkeys      []Passkey
	softwareOath  []string // method ids
	phones        []Phone
	tap           *tapMethod
	revocations   int
	installedApps []string // Teams app ids, in installation order
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
		now:              o.Now,
		initialDevice:    o.InitialDevice,
		initialPasskey:   o.InitialPasskey,
		pushOnly:         make(map[string]bool),
		base:             o.BasePath,
		population:       max(o.Population, 0),
		twoPhonesEvery:   o.TwoPhonesEvery,
		twoPasskeysEvery: o.TwoPasskeysEvery,
		onInstall:        o.OnInstall,
		listSeen:         o.ListSeen,
		byID:             make(map[string]*user),
		byUPN:            make(map[string]*user),
		groups:           make(map[string][]string),
	}
	for _, id := range o.PushOnly {
		s.pushOnly[strings.ToLower(id)] = true
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.initialDevice == "" {
		s.initialDevice = DefaultInitialDevice
	}
	s.epoch = s.now().UTC().Truncate(time.Second)
	s.throttle = newBucket(o.Throttle, s.epoch)
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
	u := s.readUserLocked(userID)
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

// AddPasskey registers a passkey named deviceName for the user (an object id
// or a UPN; the user is created on first sight) and returns it. aaguid is
// the authenticator's AAGUID: "" means AuthenticatorIOSAAGUID, and a GUID
// that is not Authenticator's makes a security key rather than a passkey in
// Authenticator. If userID is neither an object id nor a UPN, or aaguid is
// not a GUID, it adds nothing and returns the zero Passkey.
func (s *Sandbox) AddPasskey(userID, deviceName, aaguid string) Passkey {
	if aaguid == "" {
		aaguid = AuthenticatorIOSAAGUID
	}
	if !isGUID(aaguid) {
		return Passkey{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return Passkey{}
	}
	p := newPasskey(deviceName, aaguid, s.now().UTC().Truncate(time.Second))
	u.passkeys = append(u.passkeys, p)
	return p
}

// Passkeys returns the user's passkeys (fido2 methods) in registration
// order, creating the user on first sight; nil if userID is neither an
// object id nor a UPN.
func (s *Sandbox) Passkeys(userID string) []Passkey {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.readUserLocked(userID)
	if u == nil {
		return nil
	}
	return append([]Passkey{}, u.passkeys...)
}

// DeletePasskey removes the user's passkey with the id (compared exactly)
// and reports whether it existed.
func (s *Sandbox) DeletePasskey(userID, passkeyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return false
	}
	return u.deletePasskey(passkeyID)
}

// AddSoftwareOath registers an "other authenticator app" (a
// softwareOathAuthenticationMethod, as an Authenticator set up through "I
// want to use a different authenticator app" appears) for the user, created
// on first sight, and returns its id; "" if userID is neither an object id
// nor a UPN.
func (s *Sandbox) AddSoftwareOath(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return ""
	}
	return u.addSoftwareOath()
}

// SoftwareOath returns the ids of the user's software OATH methods in
// registration order, creating the user on first sight; nil if userID is
// neither an object id nor a UPN. Graph v1.0 shows nothing else of them.
func (s *Sandbox) SoftwareOath(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.readUserLocked(userID)
	if u == nil {
		return nil
	}
	return append([]string{}, u.softwareOath...)
}

// DeleteSoftwareOath removes the user's software OATH method with the id and
// reports whether it existed.
func (s *Sandbox) DeleteSoftwareOath(userID, methodID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return false
	}
	return u.deleteSoftwareOath(methodID)
}

// AddPhone registers phoneNumber as the user's phone of phoneType
// ("mobile", "alternateMobile" or "office"), replacing the user's phone of
// that type, and returns it. Users start with no phone. If userID is
// neither an object id nor a UPN, or phoneType is none of those, it adds
// nothing and returns the zero Phone.
func (s *Sandbox) AddPhone(userID, phoneType, phoneNumber string) Phone {
	id, ok := phoneIDs[phoneType]
	if !ok {
		return Phone{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return Phone{}
	}
	p := Phone{ID: id, PhoneNumber: phoneNumber, PhoneType: phoneType}
	u.phones, _ = without(u.phones, func(q Phone) bool { return q.PhoneType == phoneType })
	u.phones = append(u.phones, p)
	return p
}

// Phones returns the user's phone methods, creating the user on first
// sight; nil if userID is neither an object id nor a UPN.
func (s *Sandbox) Phones(userID string) []Phone {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.readUserLocked(userID)
	if u == nil {
		return nil
	}
	return append([]Phone{}, u.phones...)
}

// TemporaryAccessPasses returns the ids of the user's Temporary Access
// Passes: the one created last through Graph, or none (nil) once it was
// deleted or if there never was one. It creates the user on first sight.
func (s *Sandbox) TemporaryAccessPasses(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.readUserLocked(userID)
	if u == nil || u.tap == nil {
		return nil
	}
	return []string{u.tap.id}
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

// takeFault consumes one call of the current fault, if any applies to a
// call of the kind (see Fault.Only).
func (s *Sandbox) takeFault(kind string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faultLeft == 0 || (s.fault.Only != "" && !strings.EqualFold(s.fault.Only, kind)) {
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

func (u *user) deleteMethod(id string) (ok bool) {
	u.methods, ok = without(u.methods, func(m Method) bool { return strings.EqualFold(m.ID, id) })
	return ok
}

func (u *user) findPasskey(id string) (Passkey, bool) {
	for _, p := range u.passkeys {
		if p.ID == id {
			return p, true
		}
	}
	return Passkey{}, false
}

func (u *user) deletePasskey(id string) (ok bool) {
	u.passkeys, ok = without(u.passkeys, func(p Passkey) bool { return p.ID == id })
	return ok
}

func (u *user) addSoftwareOath() string {
	id := newGUID()
	u.softwareOath = append(u.softwareOath, id)
	return id
}

func (u *user) findSoftwareOath(id string) (string, bool) {
	for _, m := range u.softwareOath {
		if strings.EqualFold(m, id) {
			return m, true
		}
	}
	return "", false
}

func (u *user) deleteSoftwareOath(id string) (ok bool) {
	u.softwareOath, ok = without(u.softwareOath, func(m string) bool { return strings.EqualFold(m, id) })
	return ok
}

func (u *user) deleteTAP(id string) bool {
	if u.tap == nil || !strings.EqualFold(u.tap.id, id) {
		return false
	}
	u.tap = nil
	return true
}

// without returns s without its first element that match accepts, and
// whether there was one. It never writes to s's backing array.
func without[T any](s []T, match func(T) bool) ([]T, bool) {
	for i, v := range s {
		if match(v) {
			return append(s[:i:i], s[i+1:]...), true
		}
	}
	return s, false
}

// userLocked returns the user named by id (an object id or a UPN) to change
// them: a stored user; a synthetic user, stored now (materialised); or a
// user created with the initial device on first sight. nil if id is
// neither an object id nor a UPN. s.mu must be held.
func (s *Sandbox) userLocked(id string) *user {
	u, stored := s.lookupLocked(id)
	if u != nil && !stored {
		s.storeLocked(u)
		s.materialized++
	}
	return u
}

// readUserLocked returns the user named by id to read them: as userLocked,
// except that a synthetic user who was never changed is derived afresh from
// their index and not stored, so that reading every user of a large
// population costs no memory. s.mu must be held.
func (s *Sandbox) readUserLocked(id string) *user {
	u, _ := s.lookupLocked(id)
	return u
}

// lookupLocked returns the user named by id and whether they are stored: a
// synthetic user not yet stored is derived (stored false); a user seen for
// the first time is created and stored. s.mu must be held.
func (s *Sandbox) lookupLocked(id string) (u *user, stored bool) {
	switch {
	case isGUID(id):
		key := strings.ToLower(id)
		if u := s.byID[key]; u != nil {
			return u, true
		}
		if i := s.syntheticIndex(key); i >= 0 {
			return s.syntheticUser(i), false
		}
		upn := "user-" + key[:8] + "@sandbox.example"
		if s.byUPN[upn] != nil {
			upn = "user-" + key + "@sandbox.example"
		}
		return s.seenLocked(s.addUserLocked(key, upn, key[:8])), true
	case isUPN(id):
		key := strings.ToLower(id)
		if u := s.byUPN[key]; u != nil {
			return u, true
		}
		if i := s.syntheticIndex(key); i >= 0 {
			return s.syntheticUser(i), false
		}
		suffix, _, _ := strings.Cut(id, "@")
		if r := []rune(suffix); len(r) > 20 {
			suffix = string(r[:20])
		}
		return s.seenLocked(s.addUserLocked(newGUID(), id, suffix)), true
	default:
		return nil, false
	}
}

// seenLocked lists a user created on first sight in the directory when
// Options.ListSeen says so, and returns them. s.mu must be held.
func (s *Sandbox) seenLocked(u *user) *user {
	if s.listSeen {
		s.directory = append(s.directory, u)
	}
	return u
}

// addUserLocked creates and stores a user first seen now, with the initial
// device (and the initial passkey of Options.InitialPasskey).
func (s *Sandbox) addUserLocked(id, upn, suffix string) *user {
	now := s.now().UTC().Truncate(time.Second)
	u := &user{
		profile: profile{
			id:          id,
			upn:         upn,
			displayName: "サンドボックス ユーザー (" + suffix + ")",
			created:     now,
		},
		methods: []Method{{
			ID:              newGUID(),
			DisplayName:     s.initialDevice,
			PhoneAppVersion: initialAppVersion,
		}},
	}
	if s.initialPasskey && !s.isPushOnly(u) {
		u.passkeys = []Passkey{newPasskey(s.initialDevice, AuthenticatorIOSAAGUID, now.Add(-initialPasskeyAge))}
	}
	s.storeLocked(u)
	return u
}

// isPushOnly reports whether Options.PushOnly names the user.
func (s *Sandbox) isPushOnly(u *user) bool {
	return s.pushOnly[u.id] || s.pushOnly[strings.ToLower(u.upn)]
}

// storeLocked indexes u by object id and UPN.
func (s *Sandbox) storeLocked(u *user) {
	s.byID[u.id] = u
	s.byUPN[strings.ToLower(u.upn)] = u
}

// newPasskey makes a passkey with a fresh id.
func newPasskey(name, aaguid string, created time.Time) Passkey {
	aaguid = strings.ToLower(aaguid)
	return Passkey{ID: newPasskeyID(), DisplayName: name, AAGUID: aaguid, Model: passkeyModel(aaguid), Created: created}
}

// passkeyModel is the model the sandbox reports for an AAGUID.
func passkeyModel(aaguid string) string {
	switch aaguid {
	case AuthenticatorIOSAAGUID:
		return "Microsoft Authenticator - iOS"
	case AuthenticatorAndroidAAGUID:
		return "Microsoft Authenticator - Android"
	default:
		return "FIDO2 security key"
	}
}

// newPasskeyID returns a random fido2 method id shaped like Graph's: 16
// bytes in base64url whose "==" padding is written as the digit 2.
func newPasskeyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + "2"
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
			s.serveGraph(w, r, graphPrefix, false)
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
