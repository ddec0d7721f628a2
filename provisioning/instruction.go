package provisioning

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// An Action is what an operator asks for; it maps to a request Type.
type Action string

// The actions of the instruction file and of the CRM's API.
const (
	ActionAddServices    Action = "add_services"
	ActionCancelServices Action = "cancel_services"
	ActionPair           Action = "pair_smartcard_decoder"
	ActionResetPIN       Action = "reset_pin"
	ActionSetPIN         Action = "set_pin"
	ActionResetSmartcard Action = "reset_smartcard"
)

// Field names, as the instruction file's columns name them; a Problem names one.
const (
	FieldAction             = "action"
	FieldSubscription       = "subscription_number"
	FieldSmartcardSerial    = "smartcard_serial_number"
	FieldSmartcardCAID      = "smartcard_ca_id"
	FieldSTBSerial          = "stb_serial_number"
	FieldServices           = "services"
	FieldPIN                = "pin"
	FieldPriority           = "priority"
	FieldScheduledDate      = "scheduled_date"
	FieldProcessImmediately = "process_immediately"
	FieldReference          = "reference"

	// The Web API's other keys; the instruction file has no such columns.
	FieldSubscriptionID   = "subscription_id"
	FieldSmartcardID      = "smartcard_id"
	FieldSmartcardAltCode = "smartcard_alternative_code"
	FieldSTBID            = "stb_id"
	FieldSTBAltCode       = "stb_alternative_code"
)

// MaxServices is the most services one request may carry: the gateway takes at most
// 64 products in a command and refuses the whole batch otherwise.
const MaxServices = 64

// rule says which fields an action needs and which it takes at all.
type rule struct {
	typ          Type
	subscription need
	services     need
	stb          need
	pin          need
}

type need int

const (
	refused need = iota
	optional
	required
)

var rules = map[Action]rule{
	ActionAddServices:    {typ: AddProducts, subscription: optional, services: required},
	ActionCancelServices: {typ: CancelProducts, subscription: required, services: required},
	ActionPair:           {typ: Pair, subscription: optional, stb: optional},
	ActionResetPIN:       {typ: ResetPIN, subscription: required},
	ActionSetPIN:         {typ: SetPIN, subscription: required, pin: required},
	ActionResetSmartcard: {typ: ResetSmartcard, subscription: required},
}

// Actions lists the known actions, in the order the documentation gives them.
var Actions = []Action{ActionAddServices, ActionCancelServices, ActionPair, ActionResetPIN, ActionSetPIN, ActionResetSmartcard}

// Instruction is one instruction as an operator gave it: every field as text, empty
// when not given. Values are trimmed of surrounding spaces before they are checked.
type Instruction struct {
	Action             string
	SubscriptionNumber string
	SmartcardSerial    string
	SmartcardCAID      string
	STBSerial          string
	Services           []string // service codes, in the order given
	PIN                string
	Priority           string
	ScheduledDate      string
	ProcessImmediately string
	Reference          string

	// The Web API also names records by their id or alternative code (the instruction
	// file does not): at most one key per record, the same rules otherwise.
	SubscriptionByID   string
	SmartcardByID      string
	SmartcardByAltCode string
	STBByID            string
	STBByAltCode       string
	// ServicesByKey is the Web API's services_set, in the order given; an instruction
	// gives Services or ServicesByKey, not both.
	ServicesByKey []ServiceKey
}

// ServiceKey names one service by exactly one of its keys.
type ServiceKey struct {
	ID, Code, AltCode string
}

// SplitServices splits the instruction file's `services` value (codes separated by
// `;`), dropping empty entries so that a trailing `;` is harmless.
func SplitServices(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ";")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Draft is an instruction that passed Parse: its values are parsed and it waits for
// Resolve to check what it names against the reference data.
type Draft struct {
	Type               Type
	Priority           Priority
	ScheduledDate      time.Time
	ProcessImmediately bool
	Reference          string

	SubscriptionNumber string
	SmartcardSerial    string // one of SmartcardSerial and SmartcardCAID is set
	SmartcardCAID      string
	STBSerial          string
	ServiceCodes       []string
	PIN                string

	// The Web API's other keys (see Instruction), checked: ids are positive integers,
	// each ServiceKey has exactly one key.
	SubscriptionByID   int64
	SmartcardByID      int64
	SmartcardByAltCode string
	STBByID            int64
	STBByAltCode       string
	ServicesByKey      []ServiceKey
}

// services is how many services the draft names, in either form.
func (d *Draft) services() int { return len(d.ServiceCodes) + len(d.ServicesByKey) }

// dateLayouts are the accepted scheduled_date forms; the second is read as UTC.
var dateLayouts = []string{time.RFC3339, "2006-01-02 15:04:05"}

// Parse checks an instruction on its own (the action, which fields are given, the
// format of each value) and returns its draft, or every problem found. now is the
// scheduled date of an instruction that gives none.
func Parse(in Instruction, now time.Time) (Draft, []Problem) {
	var ps problems
	d := Draft{
		Priority:           Regular,
		ScheduledDate:      now,
		SubscriptionNumber: strings.TrimSpace(in.SubscriptionNumber),
		SmartcardSerial:    strings.TrimSpace(in.SmartcardSerial),
		SmartcardCAID:      strings.TrimSpace(in.SmartcardCAID),
		STBSerial:          strings.TrimSpace(in.STBSerial),
		ServiceCodes:       trimmed(in.Services),
		PIN:                strings.TrimSpace(in.PIN),
		Reference:          strings.TrimSpace(in.Reference),
	}

	action, r, ok := parseAction(&ps, in.Action)
	subKeys, stbKeys := parseKeys(&ps, &d, &in)
	if ok {
		applyRule(&ps, &d, action, r, subKeys, stbKeys)
	}
	if r.pin == required && d.PIN != "" {
		checkPIN(&ps, d.PIN)
	}
	if r.services != refused {
		checkServices(&ps, &d)
	}
	parseWhen(&ps, &d, &in)
	if utf8.RuneCountInString(d.Reference) > 64 {
		ps.add(FieldReference, CodeInvalidReference, "is longer than 64 characters")
	}
	return d, ps.list
}

// parseAction finds the rule of the instruction's action; ok is false (and the
// rule the zero one) when the action is missing or unknown.
func parseAction(ps *problems, given string) (action Action, r rule, ok bool) {
	action = Action(strings.ToLower(strings.TrimSpace(given)))
	r, ok = rules[action]
	switch {
	case action == "":
		ps.add(FieldAction, CodeMissingField, "is required")
	case !ok:
		ps.add(FieldAction, CodeUnknownAction, fmt.Sprintf("unknown action %q (expected one of %s)", given, actionList()))
	}
	return action, r, ok
}

// parseKeys reads the Web API's other keys into d and checks that the smartcard,
// the STB, the subscription and the services are each named one way only. It
// returns the names of the subscription's and the STB's keys given.
func parseKeys(ps *problems, d *Draft, in *Instruction) (subKeys, stbKeys []string) {
	d.SmartcardByID = parseID(ps, FieldSmartcardID, in.SmartcardByID)
	d.SmartcardByAltCode = strings.TrimSpace(in.SmartcardByAltCode)
	d.STBByID = parseID(ps, FieldSTBID, in.STBByID)
	d.STBByAltCode = strings.TrimSpace(in.STBByAltCode)
	d.SubscriptionByID = parseID(ps, FieldSubscriptionID, in.SubscriptionByID)

	cardKeys := given(FieldSmartcardSerial, d.SmartcardSerial, FieldSmartcardCAID, d.SmartcardCAID,
		FieldSmartcardID, in.SmartcardByID, FieldSmartcardAltCode, d.SmartcardByAltCode)
	switch {
	case len(cardKeys) == 0:
		ps.add(FieldSmartcardSerial, CodeMissingField, "is required (or smartcard_ca_id)")
	case len(cardKeys) == 2 && cardKeys[0] == FieldSmartcardSerial && cardKeys[1] == FieldSmartcardCAID:
		ps.add(FieldSmartcardCAID, CodeFieldNotAllowed, "give smartcard_serial_number or smartcard_ca_id, not both")
	case len(cardKeys) > 1:
		ps.add(cardKeys[1], CodeFieldNotAllowed, "give one key of the smartcard, not "+strings.Join(cardKeys, " and "))
	}
	stbKeys = given(FieldSTBSerial, d.STBSerial, FieldSTBID, in.STBByID, FieldSTBAltCode, d.STBByAltCode)
	if len(stbKeys) > 1 {
		ps.add(stbKeys[1], CodeFieldNotAllowed, "give one key of the STB, not "+strings.Join(stbKeys, " and "))
	}
	subKeys = given(FieldSubscription, d.SubscriptionNumber, FieldSubscriptionID, in.SubscriptionByID)
	if len(subKeys) > 1 {
		ps.add(subKeys[1], CodeFieldNotAllowed, "give one key of the subscription, not "+strings.Join(subKeys, " and "))
	}
	d.ServicesByKey = parseServiceKeys(ps, in.ServicesByKey)
	if len(d.ServiceCodes) > 0 && len(d.ServicesByKey) > 0 {
		ps.add(FieldServices, CodeFieldNotAllowed, "give services by code or by key, not both")
	}
	return subKeys, stbKeys
}

// applyRule sets d's request type from the action's rule and checks that the fields
// the rule needs are given and those it refuses are not.
func applyRule(ps *problems, d *Draft, action Action, r rule, subKeys, stbKeys []string) {
	d.Type = r.typ
	checkNeed(ps, first(subKeys, FieldSubscription), len(subKeys) > 0, r.subscription, action)
	checkNeed(ps, FieldServices, d.services() > 0, r.services, action)
	checkNeed(ps, first(stbKeys, FieldSTBSerial), len(stbKeys) > 0, r.stb, action)
	checkNeed(ps, FieldPIN, d.PIN != "", r.pin, action)
	if action == ActionPair && len(stbKeys) == 0 {
		d.Type = Unpair // pairing with no STB means unpairing the card
	}
}

// checkPIN checks a PIN to be set.
func checkPIN(ps *problems, pin string) {
	if why := PINProblem(pin); why != "" {
		ps.add(FieldPIN, CodeInvalidPIN, why)
	}
}

// PINProblem says why pin cannot be set by a SET_PIN, or "" when it can: the rule
// of every way a PIN comes in (files, the Web API, a retry's --pin).
func PINProblem(pin string) string {
	switch {
	case !isFourDigits(pin):
		return "must be exactly 4 digits"
	case pin == "0000":
		return "0000 is the default PIN and cannot be set (use reset_pin)"
	}
	return ""
}

// checkServices checks the number of services and that none is listed twice in
// the same form.
func checkServices(ps *problems, d *Draft) {
	if n := d.services(); n > MaxServices {
		ps.add(FieldServices, CodeTooManyServices, fmt.Sprintf("%d services, at most %d in one instruction", n, MaxServices))
	}
	seen := make(map[string]bool, len(d.ServiceCodes))
	for _, c := range d.ServiceCodes {
		if seen[c] {
			ps.add(FieldServices, CodeDuplicateService, fmt.Sprintf("service %s is listed twice", c))
		}
		seen[c] = true
	}
	// The same service named by two different keys is found by Resolve.
	seenKey := make(map[ServiceKey]bool, len(d.ServicesByKey))
	for _, k := range d.ServicesByKey {
		if seenKey[k] {
			ps.add(FieldServices, CodeDuplicateService, fmt.Sprintf("service %s is listed twice", k))
		}
		seenKey[k] = true
	}
}

// parseWhen reads when and how urgently the request is to be sent: its priority,
// its scheduled date and whether it is processed immediately.
func parseWhen(ps *problems, d *Draft, in *Instruction) {
	if p := strings.ToUpper(strings.TrimSpace(in.Priority)); p != "" {
		switch Priority(p) {
		case Regular, Express:
			d.Priority = Priority(p)
		default:
			ps.add(FieldPriority, CodeInvalidPriority, fmt.Sprintf("%q is not REGULAR or EXPRESS", in.Priority))
		}
	}

	if s := strings.TrimSpace(in.ScheduledDate); s != "" {
		t, err := parseDate(s)
		if err != nil {
			ps.add(FieldScheduledDate, CodeInvalidDate, fmt.Sprintf("%q is not RFC 3339 or YYYY-MM-DD HH:MM:SS", s))
		}
		d.ScheduledDate = t
	}

	switch strings.ToLower(strings.TrimSpace(in.ProcessImmediately)) {
	case "", "false":
	case "true":
		d.ProcessImmediately = true
	default:
		ps.add(FieldProcessImmediately, CodeInvalidBoolean, fmt.Sprintf("%q is not true or false", in.ProcessImmediately))
	}
}

// trimmed returns a copy of codes trimmed of spaces, without empty ones: the Web API
// hands its list as given, and the caller's slice must not change.
func trimmed(codes []string) []string {
	var out []string
	for _, c := range codes {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// given returns the names of the keys given, of (name, value) pairs.
func given(pairs ...string) []string {
	var names []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) != "" {
			names = append(names, pairs[i])
		}
	}
	return names
}

func first(names []string, otherwise string) string {
	if len(names) > 0 {
		return names[0]
	}
	return otherwise
}

// parseID checks an id key: empty (not given) or a positive integer.
func parseID(ps *problems, field, s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		ps.add(field, CodeInvalidID, fmt.Sprintf("%q is not a positive whole number", s))
		return 0
	}
	return id
}

// parseServiceKeys checks that each service is named by exactly one key, and an id
// key is a number; it returns the keys trimmed.
func parseServiceKeys(ps *problems, keys []ServiceKey) []ServiceKey {
	var out []ServiceKey
	for i, k := range keys {
		k = ServiceKey{ID: strings.TrimSpace(k.ID), Code: strings.TrimSpace(k.Code), AltCode: strings.TrimSpace(k.AltCode)}
		n := 0
		for _, v := range []string{k.ID, k.Code, k.AltCode} {
			if v != "" {
				n++
			}
		}
		switch {
		case n == 0:
			ps.add(FieldServices, CodeMissingField, fmt.Sprintf("service %d: give its id, code or alternative code", i+1))
			continue
		case n > 1:
			ps.add(FieldServices, CodeFieldNotAllowed, fmt.Sprintf("service %d: give one of its id, code and alternative code, not several", i+1))
			continue
		}
		if k.ID != "" {
			if id, err := strconv.ParseInt(k.ID, 10, 64); err != nil || id < 1 {
				ps.add(FieldServices, CodeInvalidID, fmt.Sprintf("service %d: id %q is not a positive whole number", i+1, k.ID))
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// String names the key as messages show it.
func (k ServiceKey) String() string {
	switch {
	case k.ID != "":
		return "with id " + k.ID
	case k.AltCode != "":
		return "with alternative code " + k.AltCode
	}
	return k.Code
}

func checkNeed(ps *problems, field string, given bool, n need, a Action) {
	switch {
	case n == required && !given:
		ps.add(field, CodeMissingField, fmt.Sprintf("is required for %s", a))
	case n == refused && given:
		ps.add(field, CodeFieldNotAllowed, fmt.Sprintf("is not taken by %s", a))
	}
}

func parseDate(s string) (time.Time, error) {
	var err error
	for _, layout := range dateLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

func isFourDigits(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func actionList() string {
	names := make([]string, len(Actions))
	for i, a := range Actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}
