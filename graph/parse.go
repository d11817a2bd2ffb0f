package graph

import (
	"errors"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Small response models for the reads.
//
// msgraph's own models.User and models.MicrosoftAuthenticatorAuthenticationMethod
// reference, through their navigation properties (a user's drive, mail,
// calendars…; an authenticator's device), most of the models package, and
// the linker keeps all of it: a program calling only ListAuthenticatorMethods
// grew from 8 MB to 24 MB, all five calls made 31 MB. These types decode
// just the properties the Client returns and are sent through the same
// request builders (for the request), adapter and ODataError mapping (for
// errors) as the SDK's own Get methods.

var odataErrorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

var errReadOnly = errors.New("graph: response model is read-only")

// userView is a user with $select=id,displayName,userPrincipalName.
type userView struct{ User }

func newUserView(absser.ParseNode) (absser.Parsable, error) { return &userView{}, nil }

func (u *userView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":                stringField(&u.ID),
		"displayName":       stringField(&u.DisplayName),
		"userPrincipalName": stringField(&u.UserPrincipalName),
	}
}

func (u *userView) Serialize(absser.SerializationWriter) error { return errReadOnly }

// userRefView is one user of a sweep's listing, with
// $select=id,userPrincipalName,displayName,department (ListUsers also
// selects accountEnabled and userType, for its $filter, and does not read
// them).
type userRefView struct{ UserRef }

func newUserRefView(absser.ParseNode) (absser.Parsable, error) { return &userRefView{}, nil }

func (u *userRefView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":                stringField(&u.ID),
		"userPrincipalName": stringField(&u.UPN),
		"displayName":       stringField(&u.DisplayName),
		"department":        stringField(&u.Department),
	}
}

func (u *userRefView) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (u *userRefView) item() UserRef { return u.UserRef }

// authMethodView is one microsoftAuthenticatorAuthenticationMethod.
type authMethodView struct{ AuthenticatorMethod }

func newAuthMethodView(absser.ParseNode) (absser.Parsable, error) { return &authMethodView{}, nil }

func (m *authMethodView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":              stringField(&m.ID),
		"displayName":     stringField(&m.DisplayName),
		"phoneAppVersion": stringField(&m.PhoneAppVersion),
		"createdDateTime": timeField(&m.Created),
	}
}

func (m *authMethodView) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (m *authMethodView) item() AuthenticatorMethod { return m.AuthenticatorMethod }

// fido2View is one fido2AuthenticationMethod.
type fido2View struct{ Fido2Method }

func newFido2View(absser.ParseNode) (absser.Parsable, error) { return &fido2View{}, nil }

func (m *fido2View) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":              stringField(&m.ID),
		"displayName":     stringField(&m.DisplayName),
		"aaGuid":          stringField(&m.AAGUID),
		"model":           stringField(&m.Model),
		"createdDateTime": timeField(&m.Created),
		// The docs' own example spells it so; read either (UNVERIFIED
		// which one the service sends).
		"creationDateTime": timeField(&m.Created),
	}
}

func (m *fido2View) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (m *fido2View) item() Fido2Method { return m.Fido2Method }

// softwareOathView is one softwareOathAuthenticationMethod. Its secretKey,
// which Graph always returns as null, is not read.
type softwareOathView struct{ SoftwareOathMethod }

func newSoftwareOathView(absser.ParseNode) (absser.Parsable, error) {
	return &softwareOathView{}, nil
}

func (m *softwareOathView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id": stringField(&m.ID),
	}
}

func (m *softwareOathView) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (m *softwareOathView) item() SoftwareOathMethod { return m.SoftwareOathMethod }

// phoneView is one phoneAuthenticationMethod.
type phoneView struct{ PhoneMethod }

func newPhoneView(absser.ParseNode) (absser.Parsable, error) { return &phoneView{}, nil }

func (m *phoneView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":          stringField(&m.ID),
		"phoneNumber": stringField(&m.PhoneNumber),
		"phoneType":   stringField(&m.PhoneType),
	}
}

func (m *phoneView) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (m *phoneView) item() PhoneMethod { return m.PhoneMethod }

// tapView is one temporaryAccessPassAuthenticationMethod as listed. Its
// temporaryAccessPass (null in a list) is deliberately not read.
type tapView struct{ TemporaryAccessPassMethod }

func newTAPView(absser.ParseNode) (absser.Parsable, error) { return &tapView{}, nil }

func (m *tapView) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"id":              stringField(&m.ID),
		"createdDateTime": timeField(&m.Created),
		"startDateTime":   timeField(&m.Start),
		"lifetimeInMinutes": func(n absser.ParseNode) error {
			v, err := n.GetInt32Value()
			m.LifetimeMinutes = int(deref(v))
			return err
		},
		"isUsableOnce": boolField(&m.UsableOnce),
		"isUsable":     boolField(&m.Usable),
	}
}

func (m *tapView) Serialize(absser.SerializationWriter) error { return errReadOnly }

func (m *tapView) item() TemporaryAccessPassMethod { return m.TemporaryAccessPassMethod }

// itemView is a response model of one collection item that yields the
// package's own type T.
type itemView[T any] interface {
	absser.Parsable
	item() T
}

// page is one page of a collection whose items newItem decodes into
// itemView[T] values.
type page[T any] struct {
	newItem  absser.ParsableFactory
	value    []T
	nextLink string
}

// pageOf returns the factory of pages whose items newItem decodes.
func pageOf[T any](newItem absser.ParsableFactory) absser.ParsableFactory {
	return func(absser.ParseNode) (absser.Parsable, error) { return &page[T]{newItem: newItem}, nil }
}

func (p *page[T]) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return map[string]func(absser.ParseNode) error{
		"value": func(n absser.ParseNode) error {
			items, err := n.GetCollectionOfObjectValues(p.newItem)
			for _, it := range items {
				// A JSON null in the array arrives as a nil interface.
				if v, ok := it.(itemView[T]); ok {
					p.value = append(p.value, v.item())
				}
			}
			return err
		},
		"@odata.nextLink": stringField(&p.nextLink),
	}
}

func (p *page[T]) Serialize(absser.SerializationWriter) error { return errReadOnly }

func stringField(dst *string) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetStringValue()
		*dst = deref(v)
		return err
	}
}

// timeField decodes a DateTimeOffset; JSON null leaves dst nil.
func timeField(dst **time.Time) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetTimeValue()
		*dst = v
		return err
	}
}

// boolField decodes a Boolean; JSON null gives false.
func boolField(dst *bool) func(absser.ParseNode) error {
	return func(n absser.ParseNode) error {
		v, err := n.GetBoolValue()
		*dst = deref(v)
		return err
	}
}
