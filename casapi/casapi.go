package casapi

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Header names every call to the gateway carries.
const (
	// HeaderAuthorization carries "Bearer <token>", the secret the gateway issued.
	HeaderAuthorization = "Authorization"
	// HeaderDestinationID names the subscriber management system, e.g. "CRM01".
	HeaderDestinationID = "X-Destination-Id"
	// HeaderRetryAfter comes with 429 and 503: the seconds to wait.
	HeaderRetryAfter = "Retry-After"
	// BearerPrefix precedes the token in the Authorization header.
	BearerPrefix = "Bearer "
)

// Paths of the gateway's endpoints.
const (
	PathBatches    = "/v1/batches"
	PathSmartcards = "/v1/smartcards/" // followed by the smartcard's CA id
	PathHealth     = "/v1/health"
	// PathQuery is the state of up to MaxQuery cards in one call (version 1.1).
	PathQuery = "/v1/smartcards/query"
)

// MaxQuery is the most CA ids one query may name; more gets 413.
const MaxQuery = 500

// Limits of one batch.
const (
	// MaxBatch is the most commands one batch may carry; more gets 413.
	MaxBatch = 500
	// MaxProducts is the most products one command may list.
	MaxProducts = 64
	// MaxIDLen bounds batch_id and command_id (in characters).
	MaxIDLen = 64
	// PINLen is the exact number of digits of a PIN.
	PINLen = 4
	// DefaultPIN is the PIN of a card that never had one set; SET_PIN may not set it.
	DefaultPIN = "0000"
)

// Command types.
const (
	TypeAddProducts    = "ADD_PRODUCTS"
	TypeCancelProducts = "CANCEL_PRODUCTS"
	TypePair           = "PAIR"
	TypeUnpair         = "UNPAIR"
	TypeResetPIN       = "RESET_PIN"
	TypeSetPIN         = "SET_PIN"
	TypeResetSmartcard = "RESET_SMARTCARD"
)

// CommandTypes lists every command type, in the page's order.
var CommandTypes = []string{
	TypeAddProducts, TypeCancelProducts, TypePair, TypeUnpair,
	TypeResetPIN, TypeSetPIN, TypeResetSmartcard,
}

// Statuses of one command's result.
const (
	// StatusCompleted: applied; Reference is the gateway's reference number.
	StatusCompleted = "COMPLETED"
	// StatusRejected: not applied and never will be; ErrorCode says why.
	StatusRejected = "REJECTED"
	// StatusRetry: not applied this time (E_BUSY); send again with the same command_id.
	StatusRetry = "RETRY"
)

// Error codes named on the page.
const (
	ErrCodeBadRequest         = "E_BAD_REQUEST"
	ErrCodeUnknownSmartcard   = "E_UNKNOWN_SMARTCARD"
	ErrCodeSmartcardDisabled  = "E_SMARTCARD_DISABLED"
	ErrCodeUnknownProduct     = "E_UNKNOWN_PRODUCT"
	ErrCodeNotEntitled        = "E_NOT_ENTITLED"
	ErrCodeUnknownSTB         = "E_UNKNOWN_STB"
	ErrCodeSTBPairedElsewhere = "E_STB_PAIRED_ELSEWHERE"
	ErrCodeNotPaired          = "E_NOT_PAIRED"
	ErrCodeInvalidPIN         = "E_INVALID_PIN"
	ErrCodeBusy               = "E_BUSY"
	ErrCodeCommandIDReused    = "E_COMMAND_ID_REUSED"
)

// Smartcard statuses in SmartcardState.
const (
	SmartcardActive   = "ACTIVE"
	SmartcardDisabled = "DISABLED"
)

// HealthOK is Health.Status while the gateway takes batches.
const HealthOK = "ok"

// Batch is the body of POST /v1/batches.
type Batch struct {
	// BatchID is chosen by the client, for tracing only.
	BatchID  string    `json:"batch_id"`
	Commands []Command `json:"commands"`
}

// Command is one provisioning request inside a batch. Which of Products, STB
// and PIN it carries depends on Type; the others must stay empty so that they
// are absent on the wire.
type Command struct {
	// CommandID is the idempotency key: the same on every resend of one
	// provisioning request, never reused for another.
	CommandID string `json:"command_id"`
	Type      string `json:"type"`
	// Smartcard is the card's CA id; required for every type.
	Smartcard string `json:"smartcard"`
	// Products are product (service) CA ids; ADD_PRODUCTS and CANCEL_PRODUCTS only.
	Products []string `json:"products,omitempty"`
	// STB is the set-top box's CA id; PAIR only.
	STB string `json:"stb,omitempty"`
	// PIN is exactly 4 digits; SET_PIN only.
	PIN string `json:"pin,omitempty"`
}

// BatchResult is the 200 answer to POST /v1/batches: one result per command,
// in the order of the commands.
type BatchResult struct {
	BatchID string   `json:"batch_id"`
	Results []Result `json:"results"`
}

// Result is the outcome of one command.
type Result struct {
	CommandID string `json:"command_id"`
	Status    string `json:"status"`
	// Reference is the gateway's reference number, e.g. "GW-00000001".
	Reference        string `json:"reference,omitempty"`
	ErrorCode        string `json:"error_code,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
	// Replayed says the gateway had already processed this command_id and
	// returns the outcome it stored then; nothing was applied again.
	Replayed bool `json:"replayed,omitempty"`
}

// ErrorBody is the body of a 400 (E_BAD_REQUEST) and of a 404
// (E_UNKNOWN_SMARTCARD) answer.
type ErrorBody struct {
	ErrorCode        string `json:"error_code"`
	ErrorDescription string `json:"error_description"`
}

// SmartcardState is the answer to GET /v1/smartcards/{smartcard}.
type SmartcardState struct {
	Smartcard string `json:"smartcard"`
	// Status is ACTIVE or DISABLED.
	Status   string   `json:"status"`
	Products []string `json:"products"`
	// STB is empty (absent) when the card is not paired.
	STB          string `json:"stb,omitempty"`
	PINIsDefault bool   `json:"pin_is_default"`
}

// Query is the body of POST /v1/smartcards/query.
type Query struct {
	Smartcards []string `json:"smartcards"`
}

// QueryResult is the 200 answer to a query: the state of each card the gateway
// knows, in the order asked, and the CA ids it does not know.
type QueryResult struct {
	Smartcards []SmartcardState `json:"smartcards"`
	Unknown    []string         `json:"unknown"`
}

// Validate checks a query as the gateway does: 1 to MaxQuery CA ids (more wraps
// ErrTooMany: 413), each by the command_id character rule, none twice (ErrInvalid: 400).
func (q Query) Validate() error {
	if len(q.Smartcards) > MaxQuery {
		return fmt.Errorf("smartcards: %d, at most %d allowed: %w", len(q.Smartcards), MaxQuery, ErrTooMany)
	}
	if len(q.Smartcards) == 0 {
		return &fieldError{batch: true, field: "smartcards", msg: fmt.Sprintf("must hold 1 to %d CA ids, has none", MaxQuery)}
	}
	seen := make(map[string]int, len(q.Smartcards))
	for i, id := range q.Smartcards {
		bad := func(format string, args ...any) error {
			return &fieldError{batch: true, field: fmt.Sprintf("smartcards[%d]", i), msg: fmt.Sprintf(format, args...)}
		}
		if n := utf8.RuneCountInString(id); n < 1 || n > MaxIDLen {
			return bad("must be 1 to %d characters, has %d", MaxIDLen, n)
		}
		for _, r := range id {
			if !isIDChar(r) {
				return bad("character %q not allowed, only A-Z a-z 0-9 . _ -", r)
			}
		}
		if j, dup := seen[id]; dup {
			return bad("%s is also smartcards[%d]", id, j)
		}
		seen[id] = i
	}
	return nil
}

// Health is the answer to GET /v1/health.
type Health struct {
	Status string `json:"status"`
}

// ErrTooMany is wrapped by Validate when a batch has more than MaxBatch
// commands: the gateway answers that with 413, not 400, so callers tell the
// two apart with errors.Is.
var ErrTooMany = errors.New("too many commands")

// ErrInvalid is wrapped by every other error of Validate: the gateway answers
// those with 400 E_BAD_REQUEST.
var ErrInvalid = errors.New("invalid batch")

// fieldError says which command and field broke which rule.
type fieldError struct {
	batch     bool // a batch-level field: no command to name
	index     int  // the command's index in the batch; -1 when checked on its own
	commandID string
	field     string
	msg       string
}

func (e *fieldError) Error() string {
	if e.batch {
		return fmt.Sprintf("%s: %s", e.field, e.msg)
	}
	if e.index < 0 {
		return fmt.Sprintf("command_id %q: %s: %s", e.commandID, e.field, e.msg)
	}
	return fmt.Sprintf("command %d (command_id %q): %s: %s", e.index, e.commandID, e.field, e.msg)
}

func (e *fieldError) Unwrap() error { return ErrInvalid }

// Validate checks b against every rule of the page's field table and returns
// the first rule broken. The error wraps ErrTooMany for more than MaxBatch
// commands (checked first, because the gateway answers it with 413 whatever
// else is wrong) and ErrInvalid for anything else; its text names the command
// by index and command_id, and the field.
//
// An empty string or empty slice counts as absent, which is how the json tags
// put it on the wire.
func (b Batch) Validate() error {
	if len(b.Commands) > MaxBatch {
		return fmt.Errorf("commands: %d, at most %d allowed: %w", len(b.Commands), MaxBatch, ErrTooMany)
	}
	if n := utf8.RuneCountInString(b.BatchID); n < 1 || n > MaxIDLen {
		return &fieldError{batch: true, field: "batch_id", msg: fmt.Sprintf("must be 1 to %d characters, has %d", MaxIDLen, n)}
	}
	if len(b.Commands) == 0 {
		return &fieldError{batch: true, field: "commands", msg: fmt.Sprintf("must hold 1 to %d commands, has none", MaxBatch)}
	}
	for i, c := range b.Commands {
		if err := c.validate(); err != nil {
			err.index, err.commandID = i, c.CommandID
			return err
		}
	}
	return nil
}

// Validate checks one command on its own, as Batch.Validate does for each.
func (c Command) Validate() error {
	if err := c.validate(); err != nil {
		err.index, err.commandID = -1, c.CommandID
		return err
	}
	return nil
}

func (c Command) validate() *fieldError {
	bad := func(field, format string, args ...any) *fieldError {
		return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
	}
	if n := utf8.RuneCountInString(c.CommandID); n < 1 || n > MaxIDLen {
		return bad("command_id", "must be 1 to %d characters, has %d", MaxIDLen, n)
	}
	for _, r := range c.CommandID {
		if !isIDChar(r) {
			return bad("command_id", "character %q not allowed, only A-Z a-z 0-9 . _ -", r)
		}
	}
	takesProducts, takesSTB, takesPIN := false, false, false
	switch c.Type {
	case TypeAddProducts, TypeCancelProducts:
		takesProducts = true
	case TypePair:
		takesSTB = true
	case TypeSetPIN:
		takesPIN = true
	case TypeUnpair, TypeResetPIN, TypeResetSmartcard:
	case "":
		return bad("type", "required")
	default:
		return bad("type", "unknown command type %q", c.Type)
	}
	if c.Smartcard == "" {
		return bad("smartcard", "required")
	}
	if takesProducts {
		if n := len(c.Products); n < 1 || n > MaxProducts {
			return bad("products", "must list 1 to %d products, lists %d", MaxProducts, n)
		}
		for j, p := range c.Products {
			if p == "" {
				// An empty string is no CA id; refusing it here keeps the
				// dispatcher from sending something the gateway may read either way.
				return bad("products", "product %d is empty", j)
			}
		}
	} else if len(c.Products) > 0 {
		return bad("products", "not taken by %s, must be absent", c.Type)
	}
	if takesSTB {
		if c.STB == "" {
			return bad("stb", "required for %s", c.Type)
		}
	} else if c.STB != "" {
		return bad("stb", "not taken by %s, must be absent", c.Type)
	}
	if takesPIN {
		if !isPIN(c.PIN) {
			return bad("pin", "must be exactly %d digits", PINLen)
		}
	} else if c.PIN != "" {
		return bad("pin", "not taken by %s, must be absent", c.Type)
	}
	return nil
}

// Takes reports whether commands of type typ carry the optional field named
// by its json name ("products", "stb" or "pin"). The simulator uses it to
// refuse a field that is present on the wire even when empty.
func Takes(typ, field string) bool {
	switch field {
	case "products":
		return typ == TypeAddProducts || typ == TypeCancelProducts
	case "stb":
		return typ == TypePair
	case "pin":
		return typ == TypeSetPIN
	}
	return false
}

// SamePayload reports whether c and o are the same provisioning request: same
// type, card, product list (same products in the same order), STB and PIN. The
// gateway answers a command_id that comes back with another payload with
// E_COMMAND_ID_REUSED.
func (c Command) SamePayload(o Command) bool {
	if c.Type != o.Type || c.Smartcard != o.Smartcard || c.STB != o.STB || c.PIN != o.PIN {
		return false
	}
	if len(c.Products) != len(o.Products) {
		return false
	}
	for i := range c.Products {
		if c.Products[i] != o.Products[i] {
			return false
		}
	}
	return true
}

func isIDChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

func isPIN(s string) bool {
	if len(s) != PINLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
