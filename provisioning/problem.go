package provisioning

import "strings"

// Error codes of a refused instruction: stable, for scripts and the Web API.
const (
	CodeUnknownAction       = "E_UNKNOWN_ACTION"
	CodeMissingField        = "E_MISSING_FIELD"
	CodeFieldNotAllowed     = "E_FIELD_NOT_ALLOWED"
	CodeUnknownSubscription = "E_UNKNOWN_SUBSCRIPTION"
	CodeUnknownSmartcard    = "E_UNKNOWN_SMARTCARD"
	CodeUnknownSTB          = "E_UNKNOWN_STB"
	CodeUnknownService      = "E_UNKNOWN_SERVICE"
	CodeNotASmartcard       = "E_NOT_A_SMARTCARD"
	CodeNotAnSTB            = "E_NOT_AN_STB"
	CodeNotInstalled        = "E_NOT_INSTALLED_ON_SUBSCRIPTION"
	CodeNotAService         = "E_NOT_A_SERVICE"
	CodeDuplicateService    = "E_DUPLICATE_SERVICE"
	CodeTooManyServices     = "E_TOO_MANY_SERVICES"
	CodeInvalidPIN          = "E_INVALID_PIN"
	CodeInvalidPriority     = "E_INVALID_PRIORITY"
	CodeInvalidDate         = "E_INVALID_DATE"
	CodeInvalidBoolean      = "E_INVALID_BOOLEAN"
	CodeInvalidReference    = "E_INVALID_REFERENCE"
	CodeDuplicateReference  = "E_DUPLICATE_REFERENCE"
	// CodeInvalidID is an id key (the Web API's) that is not a positive whole number.
	CodeInvalidID = "E_INVALID_ID"
	// CodeMalformedRow is a row the CSV layer could not read as a record of the header's
	// columns (wrong number of fields, stray quote).
	CodeMalformedRow = "E_MALFORMED_ROW"
)

// Problem is one reason an instruction is refused: the field it is about, a stable
// code, and a message for the operator.
type Problem struct {
	Field   string
	Code    string
	Message string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message + " (" + p.Code + ")"
	}
	return p.Field + ": " + p.Message + " (" + p.Code + ")"
}

// Join renders problems on one line, as the rejects file's error column shows them.
func Join(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

type problems struct{ list []Problem }

func (ps *problems) add(field, code, msg string) {
	ps.list = append(ps.list, Problem{Field: field, Code: code, Message: msg})
}
