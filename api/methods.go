package api

import (
	"strings"

	"github.com/provisioner/provisioner/provisioning"
)

// The parameters of the CRM's methods.
const (
	pToken        = "token"
	pSubscription = "subscription_identifier"
	pSmartcard    = "smartcard_identifier"
	pSTB          = "stb_identifier"
	pServices     = "services_set"
	pService      = "service_identifier"
	pCAID         = "smartcard_ca_id"
	pPIN          = "pin"
	pPriority     = "priority"
	pScheduled    = "scheduled_date"
	pImmediately  = "process_immediately"
	// pReference is the importer's reference, which the CRM's documentation does not
	// list: an optional key of the caller's that makes a repeated call (after a
	// timeout, say) a duplicate (409) instead of a second request.
	pReference = "reference"
)

// The keys of the identifier objects.
var (
	subscriptionKeys = []string{"id", "number"}
	itemKeys         = []string{"id", "serial_number", "alternative_code"}
	serviceKeys      = []string{"id", "code", "alternative_code"}
)

// method is one of the CRM's methods that create a request.
type method struct {
	name   string
	action provisioning.Action
	params []string // besides token and reference
}

// methods are the CRM's, with the parameters its documentation gives each.
var methods = []method{
	{"add_services", provisioning.ActionAddServices, []string{pSubscription, pServices, pSmartcard, pImmediately, pPriority, pScheduled}},
	{"cancel_services", provisioning.ActionCancelServices, []string{pSubscription, pServices, pSmartcard, pImmediately, pPriority, pScheduled}},
	{"pair_smartcard_decoder", provisioning.ActionPair, []string{pSubscription, pSmartcard, pSTB, pImmediately}},
	{"reset_pin", provisioning.ActionResetPIN, []string{pSubscription, pCAID, pImmediately}},
	{"set_pin", provisioning.ActionSetPIN, []string{pSubscription, pCAID, pPIN, pImmediately}},
	{"reset_smartcard", provisioning.ActionResetSmartcard, []string{pSubscription, pCAID, pImmediately}},
}

func methodByName(name string) *method {
	for i := range methods {
		if methods[i].name == name {
			return &methods[i]
		}
	}
	return nil
}

func (m *method) takes(param string) bool {
	if param == pToken || param == pReference {
		return true
	}
	for _, p := range m.params {
		if p == param {
			return true
		}
	}
	return false
}

// anyTakes reports whether some method takes param: a parameter of another method
// is "not taken by" this one; any other name is unknown (a typo, most likely).
func anyTakes(param string) bool {
	for i := range methods {
		if methods[i].takes(param) {
			return true
		}
	}
	return false
}

// param names the API parameter a provisioning problem is about: the rules name
// the instruction file's fields, the CRM names its parameters.
func (m *method) param(p provisioning.Problem) string {
	name := p.Field
	switch p.Field {
	case provisioning.FieldSubscription:
		name = pSubscription + ".number"
	case provisioning.FieldSubscriptionID:
		name = pSubscription + ".id"
	case provisioning.FieldSmartcardSerial:
		name = pSmartcard + ".serial_number"
		if m.takes(pCAID) {
			name = pCAID
		}
	case provisioning.FieldSmartcardID:
		name = pSmartcard + ".id"
	case provisioning.FieldSmartcardAltCode:
		name = pSmartcard + ".alternative_code"
	case provisioning.FieldSTBSerial:
		name = pSTB + ".serial_number"
	case provisioning.FieldSTBID:
		name = pSTB + ".id"
	case provisioning.FieldSTBAltCode:
		name = pSTB + ".alternative_code"
	case provisioning.FieldServices:
		name = pServices
	}
	if p.Code == provisioning.CodeMissingField && (p.Field == provisioning.FieldSubscription || p.Field == provisioning.FieldSmartcardSerial) {
		// What is missing is the identifier, not one of its keys.
		name, _, _ = strings.Cut(name, ".")
	}
	return name
}

// message is the problem's message as the API shows it: the instruction file's
// "is required (or smartcard_ca_id)" names a choice the CRM's methods do not have,
// and its "is not true or false" leaves out the API's 0 and 1.
func (m *method) message(p provisioning.Problem) string {
	switch {
	case p.Code == provisioning.CodeMissingField && p.Field == provisioning.FieldSmartcardSerial:
		return "is required for " + m.name
	case p.Code == provisioning.CodeInvalidBoolean && p.Field == provisioning.FieldProcessImmediately:
		// The API takes 0 and 1 too, as its answers write the flag.
		return strings.Replace(p.Message, "is not true or false", "is not true, false, 0 or 1", 1)
	}
	return p.Message
}
