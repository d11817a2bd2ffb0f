// Package graph is the bot's small Microsoft Graph client: it lists and
// deletes a user's Microsoft Authenticator registrations, passkeys (FIDO2),
// software OATH tokens and Temporary Access Passes, lists their phone
// methods, creates Temporary Access Passes, revokes sign-in sessions and
// reads a user's name. For sweeps over many users it walks the tenant's
// enabled members (ListUsers) or a group's users (ListGroupMembers) page by
// page, and reads the Authenticator methods (and passkeys) of up to 20
// users in one JSON batch (BatchAuthenticatorMethods,
// BatchAuthenticatorAndFido2Methods).
//
// It is built on msgraph-sdk-go's users request builders and models over
// the msgraph-sdk-go-core request adapter, not on the SDK's root
// GraphServiceClient, which links every request builder of Graph into the
// binary. It keeps kiota's serializers in registries of its own rather than
// the process-wide defaults.
//
// What it must not do: log (it returns errors, all of type *Error, and the
// caller logs them once), read its configuration from the environment
// (main passes a CredentialConfig and Options), or do network I/O in a
// constructor.
// Error text and the String/LogValue forms of TemporaryAccessPass and
// CredentialConfig never contain an access token, a client secret or a
// Temporary Access Pass.
//
// # Use
//
//	cred, err := graph.NewCredential(graph.CredentialConfig{
//		TenantID: tenantID, ClientID: clientID, ClientSecret: secret,
//	})
//	if err != nil { … }
//	gc, err := graph.NewClient(graph.WithCredential(cred))
//	if err != nil { … }
//	methods, err := gc.ListAuthenticatorMethods(ctx, aadObjectID)
//	if graph.IsForbidden(err) {
//		var ge *graph.Error
//		errors.As(err, &ge)
//		// ge.Permission() names the application permission to grant.
//	}
//
// # Credentials
//
// The app authenticates as itself (client credentials), so it needs
// application permissions with admin consent:
//
//   - UserAuthenticationMethod.Read.All to list Authenticator methods;
//   - UserAuthenticationMethod.ReadWrite.All to delete them and to create a
//     Temporary Access Pass;
//   - UserAuthMethod-Passkey.Read.All / .ReadWrite.All to list / delete
//     passkeys (FIDO2);
//   - UserAuthMethod-SoftwareOATH.Read.All / .ReadWrite.All to list / delete
//     software OATH tokens;
//   - UserAuthMethod-Phone.Read.All to list phone methods;
//   - UserAuthMethod-TAP.Read.All / .ReadWrite.All to list / delete
//     Temporary Access Passes;
//   - User.RevokeSessions.All to revoke sessions (User.ReadWrite.All or
//     Directory.ReadWrite.All also work);
//   - User.Read.All to read a user and to list the tenant's users;
//   - GroupMember.Read.All to list a group's members (Member.Read.Hidden
//     too for groups with hidden membership);
//   - UserAuthenticationMethod.Read.All for the batches.
//
// UserAuthenticationMethod.ReadWrite.All alone also covers every
// authentication method call. RequiredPermission(op) returns these names,
// and a KindForbidden Error names the one its operation lacks.
//
// NewCredential builds an azidentity credential from a CredentialConfig of
// one of four kinds:
//
//   - "secret" (default): TenantID, ClientID and ClientSecret
//     (azidentity.NewClientSecretCredential);
//   - "certificate": TenantID, ClientID, CertificatePath to a PEM or PKCS#12
//     file holding the certificate and its private key, and
//     CertificatePassword if the file has one (azidentity.ParseCertificates,
//     azidentity.NewClientCertificateCredential);
//   - "managed-identity": ManagedIdentityClientID for a user-assigned
//     identity, empty for the system-assigned one
//     (azidentity.NewManagedIdentityCredential);
//   - "workload-identity" on AKS: TenantID and ClientID, or the webhook's
//     AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE
//     (azidentity.NewWorkloadIdentityCredential).
//
// azidentity caches tokens and refreshes them before they expire. Tokens are
// requested for "https://<base URL host>/.default" (Graph's own scope for a
// loopback host) and sent only to the base URL's host, over https or, to a
// loopback host, plain http. Loopback is what internal/loopback says
// (localhost, 127.0.0.0/8, ::1), for the base URL and the token alike: the
// token provider is the package's own, not kiota-authentication-azure-go's,
// whose narrower loopback test refused http://127.0.0.2 at the first call.
// Without a credential (WithCredential(nil), allowed only for loopback base
// URLs, i.e. tests and stand-ins) no Authorization header is sent.
//
// # Throttling and time-outs
//
// Throttled responses (429, 503) are retried honouring Retry-After, within
// the bounds of WithRetry, and the waits end early when ctx is done. Each
// call is bounded by WithTimeout (60 s, the time-out of the authentication
// methods APIs); 504 and deadlines give KindTimeout. kiota's own retry
// handler is not used, so retries do not double up.
//
// # Sweeps
//
// ListUsers and ListGroupMembers call a function with each page (up to 999
// users) before asking for the next, so a sweep can save its progress; each
// page is a call of its own (timeout, retries, Observer report), and the
// walk has no page bound: cancel ctx to stop it. The group listing sends
// ConsistencyLevel: eventual and $count=true, which Graph requires for its
// OData cast; the users listing filters with eq only and needs neither.
//
// A batch is one POST /$batch through the same adapter, token, throttling
// retries and Observer as every call; Graph answers each request inside it
// separately, so each user's BatchResult has its own Err (an *Error naming
// the permission on 403) and RetryAfter (from that answer's own
// Retry-After on 429 or 503). More than 20 requests are refused locally.
//
// # Metrics
//
// WithObserver(o) tells o of every call sent: its operation (an Op
// constant), the HTTP status of the last answer (or timeout, canceled,
// unauthorized, error) and its duration. The package imports no metrics
// library; internal/app wires the Observer to one.
//
// Graph API docs:
//   - https://learn.microsoft.com/graph/api/resources/microsoftauthenticatorauthenticationmethod?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/resources/fido2authenticationmethod?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/resources/softwareoathauthenticationmethod?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/resources/phoneauthenticationmethod?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/resources/temporaryaccesspassauthenticationmethod?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/user-revokesigninsessions?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/user-get?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/group-list-transitivemembers?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/aad-advanced-queries
//   - https://learn.microsoft.com/graph/json-batching
//   - https://learn.microsoft.com/graph/errors
//   - https://learn.microsoft.com/graph/throttling
//   - https://learn.microsoft.com/graph/permissions-reference
package graph
