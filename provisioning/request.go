package provisioning

// Type is a provisioning request's type: the command type sent to the CAS gateway.
type Type string

// The request types, as the CAS gateway names its commands.
const (
	AddProducts    Type = "ADD_PRODUCTS"
	CancelProducts Type = "CANCEL_PRODUCTS"
	Pair           Type = "PAIR"
	Unpair         Type = "UNPAIR"
	ResetPIN       Type = "RESET_PIN"
	SetPIN         Type = "SET_PIN"
	ResetSmartcard Type = "RESET_SMARTCARD"
)

// Types lists every request type.
var Types = []Type{AddProducts, CancelProducts, Pair, Unpair, ResetPIN, SetPIN, ResetSmartcard}

// State is a request's life cycle state: PENDING, then COMPLETED or REJECTED.
type State string

// The life cycle states.
const (
	Pending   State = "PENDING"
	Completed State = "COMPLETED"
	Rejected  State = "REJECTED"
)

// Priority orders pending requests: EXPRESS ones are sent before REGULAR ones.
type Priority string

// The priorities.
const (
	Regular Priority = "REGULAR"
	Express Priority = "EXPRESS"
)

// Item kinds of the reference data's installed items.
const (
	KindSmartcard = "SMARTCARD"
	KindSTB       = "STB"
)

// ClassificationService is the product classification that can be provisioned.
const ClassificationService = "SERVICE"
