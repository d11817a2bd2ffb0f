// Package sandbox is an in-process stand-in for the few Microsoft Graph
// endpoints the bot uses, plus a small "security info" web page modelled on
// https://mysignins.microsoft.com/security-info, so that the whole
// smartphone-swap procedure can be rehearsed and tested with no Azure at all.
//
// It is a local rehearsal tool: state lives in memory, and the handler
// answers loopback clients only (403 for any other RemoteAddr, for a Host
// that is not a loopback name as internal/loopback defines it, and for
// requests carrying proxy forwarding headers). It must never be mounted in
// production. It uses the standard library only (and the module's
// stdlib-only internal/loopback; no msgraph-sdk-go), never logs, and does no
// I/O in New.
//
// # Wiring
//
//	sb := sandbox.New(sandbox.Options{})
//	mux.Handle(sb.BasePath()+"/", sb.Handler()) // full paths: no http.StripPrefix
//	graphBase := sb.GraphBaseURL("http://127.0.0.1:3978") // …/sandbox/graph/v1.0
//	link := sb.PageURL("http://127.0.0.1:3978", aadObjectID)
//
// # Users
//
// A user is keyed by their Entra object id (a GUID, compared case-
// insensitively) and also answers to their userPrincipalName. Any GUID or
// UPN-looking id creates its user on first sight, through Graph, the page or
// the Go methods alike: a GUID gets the UPN "user-<first 8 of id>@sandbox.example",
// a UPN gets a random object id. Every user starts with one old Microsoft
// Authenticator named Options.InitialDevice whose createdDateTime is null
// (as Graph shows a device that is not registered for passwordless sign-in);
// methods added later carry their creation time. An id that is neither a
// GUID nor a UPN is unknown: Graph's 404 Request_ResourceNotFound.
//
// With Options.InitialPasskey a new user also starts with a passkey in
// Authenticator on that device (a fido2 method with Authenticator's iOS
// AAGUID, registered 73 days before the user was first seen), except the
// users listed in Options.PushOnly. Users start with no other authenticator
// app (software OATH), no phone and no Temporary Access Pass. The Go methods
// add and remove each kind: AddMethod, AddPasskey, AddSoftwareOath, AddPhone
// and their list and delete counterparts; a TAP comes from Graph's POST.
//
// # The directory
//
// Users seen on first sight are not in the directory unless
// Options.ListSeen is set (the bot's local mode sets it, so that 棚卸し
// sweeps the users who talk to it); GET /users lists the users of
// AddDirectoryUser and those seen, in the order added, and then the synthetic
// population of Options.Population. Synthetic user i (SyntheticUser
// returns them) is derived from i alone: object id
// "5a000000-0000-4000-8000-<i in 12 hex digits>", UPN
// "user<i in 6 digits>@contoso.example", displayName "社員 <i in 6 digits>",
// a department among a few Japanese names (none for one in seven),
// disabled when i%97 == 96, a guest when i%89 == 88, and the initial
// device; Options.TwoPhonesEvery and Options.TwoPasskeysEvery give some of
// them a second Authenticator and two passkeys, so that a tenant sweep has
// candidates to find (TwoPhonesEvery 33 over 100,000 users: about 3%). A
// synthetic user answers through every per-user endpoint, by object id or
// UPN, like any user. Reading them stores nothing: they are derived afresh
// from the index, the listing one page at a time, so that a sweep of
// 100,000 users costs no memory. The first change (deleting or adding a
// method, a TAP, a revocation, a Teams app, or any use of the
// security-info page) stores the user, who then keeps their changes;
// Stats().Materialized counts them.
//
// AddGroup makes a group of users and other groups, for GET
// /groups/{id}/transitiveMembers/microsoft.graph.user: every user reached
// through nested groups once, disabled accounts and guests included.
//
// # Graph endpoints (under BasePath+"/graph/v1.0")
//
//	GET    /users                                                   the directory; $select, $filter, $top, $skiptoken (below)
//	GET    /groups/{id}/transitiveMembers/microsoft.graph.user      needs ConsistencyLevel: eventual and $count=true
//	POST   /$batch                                                  up to 20 of these requests (below)
//	GET    /users/{id}                                              [$select honoured; unknown properties left out]
//	GET    /users/{id}/authentication/methods                       every kind below, plus the password
//	GET    /users/{id}/authentication/microsoftAuthenticatorMethods
//	GET    /users/{id}/authentication/microsoftAuthenticatorMethods/{mid}
//	DELETE /users/{id}/authentication/microsoftAuthenticatorMethods/{mid}   → 204
//	GET    /users/{id}/authentication/fido2Methods                          passkeys and security keys
//	GET    /users/{id}/authentication/fido2Methods/{mid}
//	DELETE /users/{id}/authentication/fido2Methods/{mid}                    → 204
//	GET    /users/{id}/authentication/softwareOathMethods                   id and "secretKey":null only
//	GET    /users/{id}/authentication/softwareOathMethods/{mid}
//	DELETE /users/{id}/authentication/softwareOathMethods/{mid}             → 204
//	GET    /users/{id}/authentication/phoneMethods                          [] unless AddPhone added some
//	GET    /users/{id}/authentication/temporaryAccessPassMethods            the one TAP, "temporaryAccessPass":null
//	POST   /users/{id}/authentication/temporaryAccessPassMethods            → 201 (replaces the TAP)
//	GET    /users/{id}/authentication/temporaryAccessPassMethods/{mid}
//	DELETE /users/{id}/authentication/temporaryAccessPassMethods/{mid}      → 204
//	POST   /users/{id}/revokeSignInSessions                                 → 200 {"value":true}
//	POST   /users/{id}/teamwork/installedApps                               {"teamsApp@odata.bind":"…/appCatalogs/teamsApps/{appId}"}
//	                                                                        → 201, no body; 409 Conflict if installed
//
// Bodies have the shapes of the Graph v1.0 docs, @odata.context included
// (pointing at the sandbox's own $metadata), with one deliberate difference:
// GET of a single method returns the entity itself, as real Graph and
// msgraph-sdk-go do, not the docs sample's {"value":{…}} wrapper. Every item
// carries its @odata.type. A fido2 method has id (base64url ending in a
// digit, as Graph's, so it may hold '-' and '_'; compared exactly),
// displayName, createdDateTime (always filled), aaGuid, model (the
// sandbox's own wording: match on aaGuid), attestationCertificates ([]) and
// attestationLevel ("notAttested"). Other method ids are GUIDs, compared
// case-insensitively. Responses carry request-id and client-request-id
// headers. Anything else answers 404 (405 for a known path with another
// method; an unknown method id is 404 itemNotFound) with a Graph error body:
//
//	{"error":{"code":"…","message":"…","innerError":{"date":"…","request-id":"…","client-request-id":"…"}}}
//
// The listings answer one page at a time: {"@odata.context", "@odata.count"
// (group members), "@odata.nextLink" (while more remain), "value"}. $select
// returns the properties named (id always; unknown ones left out; without
// it, Graph's default properties). $top is 1–999, 100 by default; beyond,
// 400 Request_BadRequest as Graph. @odata.nextLink is the request's address
// with an opaque $skiptoken, and a walk is stable: users added to the
// directory meanwhile do not shift the synthetic users. GET /users takes
// the $filter the tenant sweep sends, "accountEnabled eq true and userType
// eq 'Member'", either half alone, and the same with false or 'Guest';
// any other $filter is 400 Request_UnsupportedQuery. Group members take no
// $filter; without ConsistencyLevel: eventual and $count=true the cast is
// 400 Request_BadRequest, and an unknown group 404
// Request_ResourceNotFound.
//
// POST /$batch takes Graph's JSON batch, {"requests":[{"id","method","url",
// "headers"?,"body"?}]} with urls relative to the version ("/users/{id}/…"),
// and answers 200 {"responses":[{"id","status","headers","body"}]} in
// request order. Each request is served as it would be at the top level,
// with its own request-id, throttling and fault; its body is JSON. More
// than 20 requests, duplicate ids, a request without id, method or url,
// dependsOn or a body that is not a batch are 400 BadRequest for the whole
// batch; a nested $batch or an absolute url is 400 for that request.
//
// SetFault makes the next Graph calls fail (403 Authorization_RequestDenied,
// 429 TooManyRequests, 503 serviceNotAvailable, …, with Retry-After when set)
// or wait (honouring the request's context). Fault.Only limits it to one
// kind of call, e.g. "fido2Methods", so that passkeys can be denied while
// microsoftAuthenticatorMethods answers; calls of other kinds do not use it
// up. Each request inside a batch is a call of its own kind; the POST
// /$batch itself is a call of kind "$batch", so a fault for every call
// (Only "") fails the first batch as a whole. The page is never faulted.
//
// # Throttling and counters
//
// Options.Throttle (SetThrottle at run time) is one token bucket for the
// whole sandbox, as Graph throttles a tenant: each Graph request takes a
// token, each request inside a batch too, and the POST /$batch itself none.
// A request that finds the bucket empty gets 429 TooManyRequests with
// Retry-After in whole seconds (at least 1) until a token is there; inside
// a batch, in that request's own headers. The page is never throttled.
// Stats counts the Graph requests (top-level and inside batches), the 429s
// of each, the users listed and the synthetic users materialised.
//
// Options.OnInstall is told of each new Teams app installation, after the
// 201, so that a test harness can play Teams sending the bot its
// installation update; InstalledApps lists a user's apps.
//

// # The security-info page (BasePath+"/security-info?user=<id>")
//
// One self-contained HTML page in Japanese (inline CSS and script under a
// nonce-based Content-Security-Policy with connect-src 'self': it loads
// nothing and calls nothing outside its own origin, so it works offline). It
// lists 「パスワード」 and one row per Authenticator, 「Microsoft Authenticator
// 多要素認証 (MFA) をプッシュする <device>」 with 「削除」. Adding follows the
// real screens: 「サインイン方法の追加」 → choose 「認証アプリ」 → 「追加」 →
// 「最初にアプリを取得します」 → 「次へ」 → a QR-like picture 「QR コードを
// スキャンします」 → 「次へ」 → a random two-digit number 「この番号をアプリに
// 入力してください」 with a device name field 「デバイス名(サンドボックス用)」
// (the sandbox's own addition) → 「次へ」 registers it. Deleting asks
// 「認証アプリの削除」 / 「ご使用のアカウントでこの方法を削除しますか?」 with
// 「OK」 and 「キャンセル」.
//
// After the Authenticator rows come the passkeys, 「パスキー (Microsoft
// Authenticator) iOS|Android <device> 登録日時: <JST date>」 (a fido2 method
// with another AAGUID reads 「セキュリティ キー」), then the other
// authenticator apps, 「その他の認証アプリ 時間ベースのワンタイム パスワード
// (TOTP) 識別子 <first 8 of id>」, each with 「削除」. A passkey is added by
// choosing 「パスキー (Microsoft Authenticator)」 → 「追加」 → 「Microsoft
// Authenticator でパスキーを作成します」 with a device name and 「スマートフォンの
// 種類(サンドボックス用)」 (iPhone (iOS) by default, or Android: it picks
// Authenticator's AAGUID) → 「次へ」. Another authenticator app is added from
// the Authenticator screen's 「別の認証アプリを使用します」 → 「アプリを
// 設定する」 with a QR-like picture and any six-digit code → 「次へ」. Deleting
// either asks as for an Authenticator, under 「パスキーの削除」 or
// 「認証アプリの削除」. Names are HTML-escaped by the server and set only as
// text by the script.
//
// The page's own API (JSON; POST and DELETE refuse other origins and need
// Content-Type application/json):
//
//	GET    BasePath+"/security-info/api/methods?user=<id>"              → {"user":{…},"methods":[{"id","displayName","phoneAppVersion","createdDateTime"}],
//	                                                                      "passkeys":[{"id","displayName","aaGuid","kind","platform","createdDateTime","created"}],
//	                                                                      "softwareOath":[{"id","label"}],"defaultMethod":"…"}
//	POST   BasePath+"/security-info/api/methods?user=<id>"              {"displayName":"…"} → 201 the method
//	DELETE BasePath+"/security-info/api/methods/{mid}?user=<id>"        → 204, 404 when unknown
//	POST   BasePath+"/security-info/api/passkeys?user=<id>"             {"displayName":"…","platform":"ios"|"android"} → 201 the passkey
//	DELETE BasePath+"/security-info/api/passkeys/{id}?user=<id>"        → 204, 404 when unknown
//	POST   BasePath+"/security-info/api/softwareOath?user=<id>"         {} → 201 {"id","label"}
//	DELETE BasePath+"/security-info/api/softwareOath/{id}?user=<id>"    → 204, 404 when unknown
//
// # Element ids for browser tests
//
// Unique elements have an id and a data-testid of the same value; repeated
// ones have a data-testid only.
//
//	add-method          「サインイン方法の追加」
//	method-list         the list (ul); its first row is password-row
//	method-row          one Authenticator row (li; data-method-id, data-device-name) [repeated]
//	method-device-name  the device name inside a row [repeated]
//	delete-method       「削除」 inside a row (data-method-id) [repeated]
//	passkey-row         one passkey row (li; data-passkey-id, data-device-name,
//	                    data-platform "iOS", "Android" or "") [repeated]
//	passkey-kind        its title; passkey-platform-name, passkey-device-name,
//	                    passkey-created (data-created: createdDateTime) [repeated]
//	delete-passkey      「削除」 inside a passkey row (data-passkey-id) [repeated]
//	oath-row            one other authenticator app (li; data-oath-id) [repeated]
//	oath-label          「識別子 …」 inside it; delete-oath its 「削除」 [repeated]
//	                    (every row but the password's has data-kind: method,
//	                    passkey or oath)
//	default-method      the default sign-in method line
//	add-dialog          the add dialog; its data-step is choose, app, qr, number,
//	                    oath or passkey
//	method-select       the method select: "authenticatorApp" 「認証アプリ」, "passkey"
//	                    「パスキー (Microsoft Authenticator)」
//	add-confirm         「追加」 (enabled once either is chosen); add-cancel 「キャンセル」
//	app-next            「次へ」 after 「最初にアプリを取得します」; app-cancel 「キャンセル」
//	use-other-app       「別の認証アプリを使用します」 on that step
//	qr-code             the QR-like SVG; qr-next 「次へ」, qr-back 「戻る」
//	approval-number     the two-digit number (10–99)
//	device-name         the device name input (default 「iPhone 15」)
//	number-next         「次へ」 that registers the device; number-back 「戻る」
//	add-error           an error from registering
//	oath-qr-code        the other app's QR-like SVG; oath-code the six-digit code
//	oath-next           「次へ」 that registers it; oath-back 「戻る」; oath-error
//	passkey-name        the passkey's device name (default 「iPhone 15」)
//	passkey-platform    the platform select: "ios" (default) or "android"
//	passkey-next        「次へ」 that registers it; passkey-back 「戻る」; passkey-error
//	delete-dialog       「認証アプリの削除」 or 「パスキーの削除」 (delete-title);
//	                    delete-target names what goes
//	delete-ok           「OK」; delete-cancel 「キャンセル」; delete-error an error
//	toast               the confirmation after adding or deleting
//	page-error          an error refreshing the list
//	page-problem        the message shown instead of the list when ?user= is
//	                    missing (400) or names no possible user (404)
//
// The body's data-ready becomes "true" once the script is wired, and its
// data-busy is "true" while an add or a delete is in flight.
//
// e2e/sandbox-page.js drives the page in headless Chromium (an Authenticator
// swap), and so does testdata/passkey-page.js (passkeys and other apps);
// browser_test.go runs both.
package sandbox
