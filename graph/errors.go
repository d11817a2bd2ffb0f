package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/smartswap/mfabot/internal/retry"
)

// Operation names, used as Error.Op, as the op an Observer is told of, and
// as the argument of RequiredPermission.
const (
	OpListAuthenticatorMethods  = "ListAuthenticatorMethods"
	OpDeleteAuthenticatorMethod = "DeleteAuthenticatorMethod"
	OpGetUser                   = "GetUser"
	OpCreateTemporaryAccessPass = "CreateTemporaryAccessPass"
	OpRevokeSignInSessions      = "RevokeSignInSessions"

	OpListFido2Methods                = "ListFido2Methods"
	OpDeleteFido2Method               = "DeleteFido2Method"
	OpListSoftwareOathMethods         = "ListSoftwareOathMethods"
	OpDeleteSoftwareOathMethod        = "DeleteSoftwareOathMethod"
	OpListPhoneMethods                = "ListPhoneMethods"
	OpListTemporaryAccessPassMethods  = "ListTemporaryAccessPassMethods"
	OpDeleteTemporaryAccessPassMethod = "DeleteTemporaryAccessPassMethod"

	OpListUsers                         = "ListUsers"
	OpListGroupMembers                  = "ListGroupMembers"
	OpBatchAuthenticatorMethods         = "BatchAuthenticatorMethods"
	OpBatchAuthenticatorAndFido2Methods = "BatchAuthenticatorAndFido2Methods"
	OpInstallApp                        = "InstallApp"
)

// RequiredPermission names the least privileged Microsoft Graph application
// permission that op (one of the Op constants) needs when acting on other
// users, or "" for an unknown op. Operators grant it to the app registration
// and give admin consent.
//
// For the passkey, software OATH, phone and Temporary Access Pass methods it
// is the method's own granular permission (UserAuthMethod-…). Deleting a
// software OATH method or a Temporary Access Pass is the exception to "least
// privileged": Microsoft's pages list UserAuthenticationMethod.ReadWrite.All
// as least privileged there and the granular permission as higher, yet the
// granular one is the narrower grant, so it is the one named.
//
// Higher-privileged permissions also work: UserAuthenticationMethod.ReadWrite.All
// covers every list and delete here and creating a Temporary Access Pass,
// UserAuthenticationMethod.Read.All every list; User.ReadWrite.All or
// Directory.ReadWrite.All cover revoking sessions (older documentation lists
// only those two); Directory.Read.All and up cover GetUser and ListUsers,
// and Group.Read.All or Directory.Read.All ListGroupMembers. A batch names
// the permission of its requests; a request refused inside it is reported
// under its own Op (OpListAuthenticatorMethods, OpListFido2Methods).
func RequiredPermission(op string) string {
	switch op {
	case OpListAuthenticatorMethods, OpBatchAuthenticatorMethods, OpBatchAuthenticatorAndFido2Methods:
		return "UserAuthenticationMethod.Read.All"
	case OpDeleteAuthenticatorMethod, OpCreateTemporaryAccessPass:
		return "UserAuthenticationMethod.ReadWrite.All"
	case OpListFido2Methods:
		return "UserAuthMethod-Passkey.Read.All"
	case OpDeleteFido2Method:
		return "UserAuthMethod-Passkey.ReadWrite.All"
	case OpListSoftwareOathMethods:
		return "UserAuthMethod-SoftwareOATH.Read.All"
	case OpDeleteSoftwareOathMethod:
		return "UserAuthMethod-SoftwareOATH.ReadWrite.All"
	case OpListPhoneMethods:
		return "UserAuthMethod-Phone.Read.All"
	case OpListTemporaryAccessPassMethods:
		return "UserAuthMethod-TAP.Read.All"
	case OpDeleteTemporaryAccessPassMethod:
		return "UserAuthMethod-TAP.ReadWrite.All"
	case OpRevokeSignInSessions:
		return "User.RevokeSessions.All"
	case OpGetUser, OpListUsers:
		return "User.Read.All"
	case OpListGroupMembers:
		return "GroupMember.Read.All"
	case OpInstallApp:
		return "TeamsAppInstallation.ReadWriteForUser.All"
	}
	return ""
}

// ErrorKind classifies an Error so callers can react without parsing text.
type ErrorKind int

// The kinds of Error.
const (
	KindOther        ErrorKind = iota // anything not listed below, including invalid arguments
	KindNotFound                      // 404: no such user or method
	KindForbidden                     // 403: the app lacks a permission (see Error.Permission)
	KindThrottled                     // 429 or 503 after the retries allowed by WithRetry
	KindTimeout                       // 504, the per-call timeout, or the caller's deadline
	KindUnauthorized                  // 401, or no access token could be obtained
)

// String returns the kind's name, e.g. "not found".
func (k ErrorKind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindForbidden:
		return "forbidden"
	case KindThrottled:
		return "throttled"
	case KindTimeout:
		return "timeout"
	case KindUnauthorized:
		return "unauthorized"
	}
	return "other"
}

// Error is the only error type the Client's methods return.
//
// Its text never contains an access token or a Temporary Access Pass.
type Error struct {
	Kind       ErrorKind
	Status     int           // HTTP status of the last response; 0 if none arrived
	Code       string        // Graph error code, e.g. "Authorization_RequestDenied"
	Message    string        // Graph error message, or what went wrong locally
	RequestID  string        // Graph request-id, to quote to Microsoft support
	RetryAfter time.Duration // for KindThrottled: what the last Retry-After asked for, if anything
	Op         string        // the Client method, one of the Op constants

	err error // underlying cause (context, transport or credential error), for Unwrap
}

// Error formats the error for logs, e.g.
//
//	graph: ListAuthenticatorMethods: 403 Forbidden: Authorization_RequestDenied: Insufficient privileges to complete the operation. (needs application permission UserAuthenticationMethod.Read.All) request-id 7e5c…
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	sep := ""
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		sep = ": "
	}
	if e.Code != "" {
		b.WriteString(sep + e.Code)
		sep = ": "
	}
	if e.Message != "" {
		b.WriteString(sep + e.Message)
		sep = ": "
	}
	if e.err != nil && !errors.Is(e.err, context.Canceled) && !errors.Is(e.err, context.DeadlineExceeded) {
		b.WriteString(sep + e.err.Error())
	}
	if e.Kind == KindThrottled && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if p := e.Permission(); p != "" {
		fmt.Fprintf(&b, " (needs application permission %s)", p)
	}
	if e.RequestID != "" {
		b.WriteString(" request-id " + e.RequestID)
	}
	return b.String()
}

// Unwrap returns the underlying context, transport or credential error, if
// any, so that errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.err }

// Permission names the application permission the failed operation needs
// when the error is KindForbidden, and "" otherwise.
func (e *Error) Permission() string {
	if e.Kind != KindForbidden {
		return ""
	}
	return RequiredPermission(e.Op)
}

// IsNotFound reports whether err is an Error of KindNotFound.
func IsNotFound(err error) bool { return isKind(err, KindNotFound) }

// IsForbidden reports whether err is an Error of KindForbidden.
func IsForbidden(err error) bool { return isKind(err, KindForbidden) }

// IsThrottled reports whether err is an Error of KindThrottled.
func IsThrottled(err error) bool { return isKind(err, KindThrottled) }

// IsTimeout reports whether err is an Error of KindTimeout.
func IsTimeout(err error) bool { return isKind(err, KindTimeout) }

func isKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

func invalidArg(op, msg string) *Error {
	return &Error{Kind: KindOther, Op: op, Message: msg}
}

func kindForStatus(status int) ErrorKind {
	switch status {
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusForbidden:
		return KindForbidden
	case http.StatusUnauthorized:
		return KindUnauthorized
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return KindThrottled
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return KindTimeout
	}
	return KindOther
}

// classify turns whatever kiota, net/http or azidentity returned into an
// *Error. parent is the caller's context, callCtx the one bounded by the
// per-call timeout, st what the transport saw of the last response.
func classify(op string, parent, callCtx context.Context, timeout time.Duration, st *callState, err error) *Error {
	e := &Error{Op: op}

	var odata *odataerrors.ODataError
	var api *abs.ApiError
	var tokErr *tokenError
	var netErr net.Error
	switch {
	case errors.As(err, &odata):
		e.Status = odata.ResponseStatusCode
		if me := odata.GetErrorEscaped(); me != nil {
			e.Code = deref(me.GetCode())
			e.Message = deref(me.GetMessage())
			if in := me.GetInnerError(); in != nil {
				e.RequestID = deref(in.GetRequestId())
			}
		}
	case errors.As(err, &api):
		e.Status = api.ResponseStatusCode
	case errors.Is(parent.Err(), context.Canceled) || (errors.Is(err, context.Canceled) && callCtx.Err() == nil):
		e.Message = "canceled"
		e.err = context.Canceled
		return e
	case errors.Is(err, context.DeadlineExceeded) || callCtx.Err() != nil:
		e.Kind = KindTimeout
		e.err = context.DeadlineExceeded
		if parent.Err() == nil && timeout > 0 {
			e.Message = fmt.Sprintf("no response within %s", timeout)
		} else {
			e.Message = "deadline exceeded"
		}
		return e
	case errors.As(err, &tokErr):
		e.Kind = KindUnauthorized
		e.err = tokErr
		return e
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Kind = KindTimeout
		e.err = err
		return e
	}

	// What the transport saw is authoritative for status and headers; it
	// also covers error bodies kiota could not parse (e.g. text/html from a
	// gateway), which reach here as plain errors.
	if st != nil && st.status >= 400 {
		if e.Status == 0 {
			e.Status = st.status
		}
		if e.RequestID == "" {
			e.RequestID = st.header.Get("request-id")
		}
		if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
			if d, ok := retry.After(st.header.Get("Retry-After"), time.Now()); ok {
				e.RetryAfter = d
			}
		}
	}
	if e.Status == 0 {
		// No HTTP error response: a transport or credential failure.
		e.Message = "request failed"
		e.err = err
		if st != nil && st.status > 0 && st.status < 400 {
			e.Status = st.status
			e.Message = "could not read the response"
		}
		return e
	}
	e.Kind = kindForStatus(e.Status)
	if e.Message == "" && e.Code == "" {
		e.Message = "unexpected response"
	}
	return e
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
