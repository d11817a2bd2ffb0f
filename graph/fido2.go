package graph

import (
	"context"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// Fido2Method is a passkey (FIDO2) registered by a user: a security key, or a
// device-bound passkey in an app such as Microsoft Authenticator.
type Fido2Method struct {
	ID          string
	DisplayName string // the name the user gave the passkey
	// AAGUID is the Authenticator Attestation GUID, which names the kind of
	// authenticator (make and model). IsAuthenticatorPasskey tells
	// Microsoft Authenticator's apart.
	AAGUID string
	Model  string // the manufacturer's model name
	// Created is Graph's createdDateTime, when the passkey was registered;
	// nil if Graph sends none.
	Created *time.Time
}

// The AAGUIDs of the passkeys Microsoft Authenticator keeps on a phone
// (device-bound: they leave with the old phone and are not in its backup).
//
// Source: https://learn.microsoft.com/entra/identity/authentication/how-to-enable-authenticator-passkey
const (
	AuthenticatorAndroidAAGUID = "de1e552d-db1d-4423-a619-566b625cdc84"
	AuthenticatorIOSAAGUID     = "90a3ccdf-635c-4729-a248-9b709135078f"
)

// IsAuthenticatorPasskey reports whether aaguid, compared without regard to
// case, is one of Microsoft Authenticator's (AuthenticatorAndroidAAGUID,
// AuthenticatorIOSAAGUID). Match on the AAGUID rather than on Model or
// DisplayName, which the user or the platform chooses.
func IsAuthenticatorPasskey(aaguid string) bool {
	return strings.EqualFold(aaguid, AuthenticatorAndroidAAGUID) ||
		strings.EqualFold(aaguid, AuthenticatorIOSAAGUID)
}

// ListFido2Methods lists the passkeys (FIDO2) registered by the user
// (object ID or user principal name).
//
// Permission: UserAuthMethod-Passkey.Read.All (UserAuthenticationMethod.Read.All
// also works).
//
// Graph API docs: https://learn.microsoft.com/graph/api/fido2authenticationmethod-list?view=graph-rest-1.0
func (c *Client) ListFido2Methods(ctx context.Context, userID string) ([]Fido2Method, error) {
	const op = OpListFido2Methods
	if userID == "" {
		return nil, invalidArg(op, "empty user ID")
	}
	rb := c.user(userID).Authentication().Fido2Methods()
	return listPages[Fido2Method](ctx, c, op, newFido2View,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			if next != "" {
				rb = rb.WithUrl(next)
			}
			return rb.ToGetRequestInformation(ctx, nil)
		})
}

// DeleteFido2Method removes one passkey (FIDO2) from the user. Graph answers
// 204 No Content.
//
// Permission: UserAuthMethod-Passkey.ReadWrite.All
// (UserAuthenticationMethod.ReadWrite.All also works).
//
// Graph API docs: https://learn.microsoft.com/graph/api/fido2authenticationmethod-delete?view=graph-rest-1.0
func (c *Client) DeleteFido2Method(ctx context.Context, userID, methodID string) error {
	const op = OpDeleteFido2Method
	if userID == "" || methodID == "" {
		return invalidArg(op, "empty user or method ID")
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.user(userID).Authentication().Fido2Methods().
			ByFido2AuthenticationMethodId(methodID).Delete(ctx, nil)
	})
}
