package provisioning

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// now is the time passed to Parse: the scheduled date of an instruction without one.
var now = time.Date(2026, 11, 29, 9, 30, 15, 0, time.UTC)

// fc is what the tests compare of a Problem: the field it names and its code.
type fc struct{ Field, Code string }

func (p fc) String() string { return p.Field + "/" + p.Code }

// fieldCodes returns the (field, code) of each problem, in order, and fails the test
// for a problem without a message (an operator would see an empty reason).
func fieldCodes(t *testing.T, ps []Problem) []fc {
	t.Helper()
	var out []fc
	for _, p := range ps {
		if p.Message == "" {
			t.Errorf("problem %s/%s has no message", p.Field, p.Code)
		}
		out = append(out, fc{p.Field, p.Code})
	}
	return out
}

// services returns n distinct service codes: SVC01, SVC02...
func services(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("SVC%02d", i+1)
	}
	return s
}

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// draft is the draft of a good instruction, with Parse's defaults.
func draft(typ Type, f func(*Draft)) Draft {
	d := Draft{Type: typ, Priority: Regular, ScheduledDate: now}
	if f != nil {
		f(&d)
	}
	return d
}

type parseTest struct {
	name string
	in   Instruction
	want []fc  // the problems, in order; nil for a good instruction
	d    Draft // the draft of a good instruction (want == nil)
}

var parseTests = []parseTest{
	// Each action, in its minimal good form.
	{
		name: "add_services",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"SPORTS", "MOVIES"}},
		d: draft(AddProducts, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ServiceCodes = "S1001", "SC0000000001", []string{"SPORTS", "MOVIES"}
		}),
	},
	{
		name: "cancel_services by CA id",
		in:   Instruction{Action: "cancel_services", SubscriptionNumber: "S1001", SmartcardCAID: "1000000001", Services: []string{"SPORTS"}},
		d: draft(CancelProducts, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardCAID, d.ServiceCodes = "S1001", "1000000001", []string{"SPORTS"}
		}),
	},
	{
		name: "pair with STB, no subscription",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000003", STBSerial: "STB-0003"},
		d:    draft(Pair, func(d *Draft) { d.SmartcardSerial, d.STBSerial = "SC0000000003", "STB-0003" }),
	},
	{
		name: "pair with STB and subscription",
		in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionNumber: "S1003", SmartcardSerial: "SC0000000003", STBSerial: "STB-0003"},
		d: draft(Pair, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.STBSerial = "S1003", "SC0000000003", "STB-0003"
		}),
	},
	{
		name: "pair without STB is UNPAIR",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000003"},
		d:    draft(Unpair, func(d *Draft) { d.SmartcardSerial = "SC0000000003" }),
	},
	{
		name: "pair with subscription, STB of blanks is UNPAIR",
		in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionNumber: "S1003", SmartcardCAID: "1000000003", STBSerial: "   "},
		d:    draft(Unpair, func(d *Draft) { d.SubscriptionNumber, d.SmartcardCAID = "S1003", "1000000003" }),
	},
	{
		name: "reset_pin",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005"},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1005", "SC0000000005" }),
	},
	{
		name: "set_pin",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "4821"},
		d: draft(SetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.PIN = "S1005", "SC0000000005", "4821"
		}),
	},
	{
		name: "set_pin with leading zeros",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "0007"},
		d: draft(SetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.PIN = "S1005", "SC0000000005", "0007"
		}),
	},
	{
		name: "reset_smartcard",
		in:   Instruction{Action: "reset_smartcard", SubscriptionNumber: "S1006", SmartcardSerial: "SC0000000006"},
		d:    draft(ResetSmartcard, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1006", "SC0000000006" }),
	},

	// Values are trimmed; the action is case-insensitive.
	{
		name: "action in capitals with spaces",
		in:   Instruction{Action: "  Reset_SMARTCARD\t", SubscriptionNumber: "S1006", SmartcardSerial: "SC0000000006"},
		d:    draft(ResetSmartcard, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1006", "SC0000000006" }),
	},
	{
		name: "every value trimmed",
		in: Instruction{
			Action: " set_pin ", SubscriptionNumber: "  S1005\t", SmartcardSerial: " SC0000000005 ", PIN: " 4821 ",
			Priority: " express ", ScheduledDate: " 2026-12-01 10:00:00 ", ProcessImmediately: " true ", Reference: "  CRM-7  ",
		},
		d: Draft{
			Type: SetPIN, Priority: Express, ScheduledDate: utc(2026, 12, 1, 10, 0, 0, 0), ProcessImmediately: true, Reference: "CRM-7",
			SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "4821",
		},
	},
	{
		name: "CA id trimmed",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardCAID: "\t1000000005 "},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardCAID = "S1005", "1000000005" }),
	},

	// Priority: REGULAR by default, either value in any case.
	{
		name: "priority express in lower case",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "express"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.Priority = "S1005", "SC0000000005", Express
		}),
	},
	{
		name: "priority EXPRESS",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "EXPRESS"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.Priority = "S1005", "SC0000000005", Express
		}),
	},
	{
		name: "priority Regular mixed case",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "Regular"},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1005", "SC0000000005" }),
	},
	{
		name: "priority of blanks is the default",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "  "},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1005", "SC0000000005" }),
	},

	// scheduled_date: RFC 3339 converted to UTC, or YYYY-MM-DD HH:MM:SS read as UTC.
	{
		name: "RFC 3339 with positive offset",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01T10:00:00+02:00"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ScheduledDate = "S1005", "SC0000000005", utc(2026, 12, 1, 8, 0, 0, 0)
		}),
	},
	{
		name: "RFC 3339 with negative offset across midnight and fraction",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-31T22:30:00.250-05:00"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ScheduledDate = "S1005", "SC0000000005", utc(2027, 1, 1, 3, 30, 0, 250_000_000)
		}),
	},
	{
		name: "RFC 3339 in UTC",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01T10:00:00Z"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ScheduledDate = "S1005", "SC0000000005", utc(2026, 12, 1, 10, 0, 0, 0)
		}),
	},
	{
		name: "date and time without zone read as UTC",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01 23:59:59"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ScheduledDate = "S1005", "SC0000000005", utc(2026, 12, 1, 23, 59, 59, 0)
		}),
	},
	{
		name: "date in the past is taken as given",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2020-02-29 00:00:00"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ScheduledDate = "S1005", "SC0000000005", utc(2020, 2, 29, 0, 0, 0, 0)
		}),
	},

	// process_immediately: true or false in any case, false by default.
	{
		name: "process_immediately TRUE",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: "TRUE"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ProcessImmediately = "S1005", "SC0000000005", true
		}),
	},
	{
		name: "process_immediately True",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: "True"},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ProcessImmediately = "S1005", "SC0000000005", true
		}),
	},
	{
		name: "process_immediately false",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: "false"},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1005", "SC0000000005" }),
	},
	{
		name: "process_immediately FALSE",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: " FALSE "},
		d:    draft(ResetPIN, func(d *Draft) { d.SubscriptionNumber, d.SmartcardSerial = "S1005", "SC0000000005" }),
	},

	// Services: up to 64; a trailing ';' in the file is harmless.
	{
		name: "services with a trailing semicolon",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: SplitServices("SPORTS; MOVIES;")},
		d: draft(AddProducts, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ServiceCodes = "S1001", "SC0000000001", []string{"SPORTS", "MOVIES"}
		}),
	},
	{
		name: "64 services",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: services(64)},
		d: draft(AddProducts, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ServiceCodes = "S1001", "SC0000000001", services(64)
		}),
	},
	{
		name: "reference of 64 characters",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Reference: strings.Repeat("R", 64)},
		d: draft(ResetPIN, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.Reference = "S1005", "SC0000000005", strings.Repeat("R", 64)
		}),
	},

	// The action.
	{
		name: "no action",
		in:   Instruction{SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005"},
		want: []fc{{FieldAction, CodeMissingField}},
	},
	{
		name: "action of blanks",
		in:   Instruction{Action: " \t ", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005"},
		want: []fc{{FieldAction, CodeMissingField}},
	},
	{
		name: "unknown action",
		in:   Instruction{Action: "add_service", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005"},
		want: []fc{{FieldAction, CodeUnknownAction}},
	},
	{
		name: "request type is not an action",
		in:   Instruction{Action: "ADD_PRODUCTS", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Services: []string{"SPORTS"}},
		want: []fc{{FieldAction, CodeUnknownAction}},
	},
	{
		// Without a known action no field is required or refused, and PIN and
		// services are not checked: only the action is reported.
		name: "unknown action takes no field rules",
		in:   Instruction{Action: "unpair", SmartcardSerial: "SC0000000005", STBSerial: "STB-1", PIN: "12a4", Services: append(services(65), "SVC01")},
		want: []fc{{FieldAction, CodeUnknownAction}},
	},
	{
		name: "nothing at all",
		in:   Instruction{},
		want: []fc{{FieldAction, CodeMissingField}, {FieldSmartcardSerial, CodeMissingField}},
	},

	// Exactly one of smartcard_serial_number and smartcard_ca_id.
	{
		name: "no smartcard",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005"},
		want: []fc{{FieldSmartcardSerial, CodeMissingField}},
	},
	{
		name: "smartcard of blanks",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "  ", SmartcardCAID: "\t"},
		want: []fc{{FieldSmartcardSerial, CodeMissingField}},
	},
	{
		name: "both serial number and CA id",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", SmartcardCAID: "1000000005"},
		want: []fc{{FieldSmartcardCAID, CodeFieldNotAllowed}},
	},

	// Required and refused fields (the full matrix is TestParseFieldRules).
	{
		// The CRM's add_services takes its subscription as optional; one rule for both.
		name: "add_services without subscription nor services",
		in:   Instruction{Action: "add_services", SmartcardSerial: "SC0000000001"},
		want: []fc{{FieldServices, CodeMissingField}},
	},
	{
		name: "add_services with services of only semicolons",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: SplitServices(" ; ;")},
		want: []fc{{FieldServices, CodeMissingField}},
	},
	{
		name: "set_pin without PIN",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "  "},
		want: []fc{{FieldPIN, CodeMissingField}},
	},
	{
		name: "pair with services and PIN",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000003", STBSerial: "STB-0003", Services: []string{"SPORTS"}, PIN: "1234"},
		want: []fc{{FieldServices, CodeFieldNotAllowed}, {FieldPIN, CodeFieldNotAllowed}},
	},
	{
		name: "reset_smartcard with services, STB and PIN",
		in:   Instruction{Action: "reset_smartcard", SubscriptionNumber: "S1006", SmartcardSerial: "SC0000000006", Services: []string{"SPORTS"}, STBSerial: "STB-0001", PIN: "1234"},
		want: []fc{{FieldServices, CodeFieldNotAllowed}, {FieldSTBSerial, CodeFieldNotAllowed}, {FieldPIN, CodeFieldNotAllowed}},
	},

	// PIN: exactly 4 digits, not 0000; checked only where a PIN is taken.
	{
		name: "PIN with a letter",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "12a4"},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN of 3 digits",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "123"},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN of 5 digits",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "12345"},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN with an inner space",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "12 4"},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN of non-ASCII digits",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "١٢٣٤"},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN 0000 is the default",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: " 0000 "},
		want: []fc{{FieldPIN, CodeInvalidPIN}},
	},
	{
		name: "PIN given to reset_pin is refused, not checked",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", PIN: "12a4"},
		want: []fc{{FieldPIN, CodeFieldNotAllowed}},
	},

	// Services: at most 64, no duplicates; checked only where services are taken.
	{
		name: "65 services",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: services(65)},
		want: []fc{{FieldServices, CodeTooManyServices}},
	},
	{
		name: "65 services to cancel",
		in:   Instruction{Action: "cancel_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: services(65)},
		want: []fc{{FieldServices, CodeTooManyServices}},
	},
	{
		name: "65 services given to pair are refused, not counted",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000003", Services: services(65)},
		want: []fc{{FieldServices, CodeFieldNotAllowed}},
	},
	{
		name: "service listed twice",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: SplitServices("SPORTS;MOVIES; SPORTS")},
		want: []fc{{FieldServices, CodeDuplicateService}},
	},
	{
		name: "service listed three times and another twice",
		in:   Instruction{Action: "cancel_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: SplitServices("A;B;A;A;B")},
		want: []fc{{FieldServices, CodeDuplicateService}, {FieldServices, CodeDuplicateService}, {FieldServices, CodeDuplicateService}},
	},
	{
		name: "65 services with a duplicate",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: append(services(64), "SVC07")},
		want: []fc{{FieldServices, CodeTooManyServices}, {FieldServices, CodeDuplicateService}},
	},
	{
		name: "codes differing in case are not duplicates",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"SPORTS", "sports"}},
		d: draft(AddProducts, func(d *Draft) {
			d.SubscriptionNumber, d.SmartcardSerial, d.ServiceCodes = "S1001", "SC0000000001", []string{"SPORTS", "sports"}
		}),
	},

	// Priority, date, boolean, reference.
	{
		name: "unknown priority",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "URGENT"},
		want: []fc{{FieldPriority, CodeInvalidPriority}},
	},
	{
		name: "priority as a number",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Priority: "1"},
		want: []fc{{FieldPriority, CodeInvalidPriority}},
	},
	{
		name: "date without time",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "date with T but no offset",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01T10:00:00"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "date without seconds",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01 10:00"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "day-first date",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "01/12/2026 10:00:00"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "day that does not exist",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-02-30 10:00:00"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "hour 24",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ScheduledDate: "2026-12-01T24:00:00Z"},
		want: []fc{{FieldScheduledDate, CodeInvalidDate}},
	},
	{
		name: "process_immediately yes",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: "yes"},
		want: []fc{{FieldProcessImmediately, CodeInvalidBoolean}},
	},
	{
		name: "process_immediately 1",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", ProcessImmediately: "1"},
		want: []fc{{FieldProcessImmediately, CodeInvalidBoolean}},
	},
	{
		name: "reference of 65 characters",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005", Reference: strings.Repeat("R", 65)},
		want: []fc{{FieldReference, CodeInvalidReference}},
	},

	// Every problem is reported, in field order.
	{
		name: "everything wrong with set_pin",
		in: Instruction{
			Action: "set_pin", SmartcardSerial: "SC0000000005", SmartcardCAID: "1000000005", STBSerial: "STB-0001",
			Services: []string{"SPORTS"}, PIN: "0000", Priority: "HIGH", ScheduledDate: "tomorrow",
			ProcessImmediately: "now", Reference: strings.Repeat("x", 100),
		},
		want: []fc{
			{FieldSmartcardCAID, CodeFieldNotAllowed},
			{FieldSubscription, CodeMissingField},
			{FieldServices, CodeFieldNotAllowed},
			{FieldSTBSerial, CodeFieldNotAllowed},
			{FieldPIN, CodeInvalidPIN},
			{FieldPriority, CodeInvalidPriority},
			{FieldScheduledDate, CodeInvalidDate},
			{FieldProcessImmediately, CodeInvalidBoolean},
			{FieldReference, CodeInvalidReference},
		},
	},
	{
		name: "everything wrong with add_services",
		in: Instruction{
			Action: "ADD_SERVICES", PIN: "1234", Services: append(services(65), "SVC01"),
			Priority: "regular!", ScheduledDate: "2026-13-01 00:00:00", ProcessImmediately: "no",
		},
		want: []fc{
			{FieldSmartcardSerial, CodeMissingField},
			{FieldPIN, CodeFieldNotAllowed},
			{FieldServices, CodeTooManyServices},
			{FieldServices, CodeDuplicateService},
			{FieldPriority, CodeInvalidPriority},
			{FieldScheduledDate, CodeInvalidDate},
			{FieldProcessImmediately, CodeInvalidBoolean},
		},
	},
	{
		name: "the Web API's id key is a number (more in keys_test.go)",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardByID: "SC0000000001"},
		want: []fc{{FieldSmartcardID, CodeInvalidID}},
	},
}

func TestParse(t *testing.T) { runParse(t, parseTests) }

func runParse(t *testing.T, tests []parseTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ps := Parse(tt.in, now)
			if got := fieldCodes(t, ps); !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n got %v\nwant %v\n(%s)", got, tt.want, Join(ps))
			}
			if tt.want != nil {
				return
			}
			if !reflect.DeepEqual(d, tt.d) {
				t.Errorf("draft:\n got %+v\nwant %+v", d, tt.d)
			}
			if loc := d.ScheduledDate.Location(); loc != time.UTC {
				t.Errorf("scheduled date %v is in %v, want UTC", d.ScheduledDate, loc)
			}
		})
	}
}

// TestParseDefaultDateIsNow checks that an instruction without a date is scheduled at
// exactly the now given, whatever its zone, and that a given date ignores now.
func TestParseDefaultDateIsNow(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	for _, n := range []time.Time{
		now,
		time.Date(2030, 6, 15, 23, 59, 59, 999_999_999, kolkata),
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		in := Instruction{Action: "reset_pin", SubscriptionNumber: "S1005", SmartcardSerial: "SC0000000005"}
		d, ps := Parse(in, n)
		if ps != nil {
			t.Fatalf("now %v: problems %s", n, Join(ps))
		}
		if d.ScheduledDate != n {
			t.Errorf("now %v: scheduled %v, want the now given", n, d.ScheduledDate)
		}
		in.ScheduledDate = "2026-12-01T10:00:00+05:30"
		d, ps = Parse(in, n)
		if ps != nil {
			t.Fatalf("now %v: problems %s", n, Join(ps))
		}
		if want := utc(2026, 12, 1, 4, 30, 0, 0); d.ScheduledDate != want {
			t.Errorf("now %v: scheduled %v, want %v", n, d.ScheduledDate, want)
		}
	}
}

// fieldRules is the specification of which fields each action takes, written out
// independently of the rules table in instruction.go.
var fieldRules = []struct {
	action                      Action
	typ                         Type // when every optional field is given
	subscription, services, stb string
	pin                         string
}{
	{ActionAddServices, AddProducts, "optional", "required", "refused", "refused"},
	{ActionCancelServices, CancelProducts, "required", "required", "refused", "refused"},
	{ActionPair, Pair, "optional", "refused", "optional", "refused"},
	{ActionResetPIN, ResetPIN, "required", "refused", "refused", "refused"},
	{ActionSetPIN, SetPIN, "required", "refused", "refused", "required"},
	{ActionResetSmartcard, ResetSmartcard, "required", "refused", "refused", "refused"},
}

// TestParseFieldRules checks, for each action and each of the fields that depend on
// the action, that leaving out a required field gives E_MISSING_FIELD, giving a
// refused one gives E_FIELD_NOT_ALLOWED, and an optional one may be given or not.
func TestParseFieldRules(t *testing.T) {
	if len(fieldRules) != len(Actions) {
		t.Fatalf("fieldRules covers %d actions, Actions lists %d", len(fieldRules), len(Actions))
	}
	type field struct {
		name string
		set  func(*Instruction, bool) // gives the field a good value, or none
	}
	fields := []field{
		{FieldSubscription, func(in *Instruction, on bool) { in.SubscriptionNumber = map[bool]string{true: "S1001"}[on] }},
		{FieldServices, func(in *Instruction, on bool) { in.Services = map[bool][]string{true: {"SPORTS"}}[on] }},
		{FieldSTBSerial, func(in *Instruction, on bool) { in.STBSerial = map[bool]string{true: "STB-0001"}[on] }},
		{FieldPIN, func(in *Instruction, on bool) { in.PIN = map[bool]string{true: "4821"}[on] }},
	}
	for i, r := range fieldRules {
		if Actions[i] != r.action {
			t.Fatalf("Actions[%d] = %s, want %s (documented order)", i, Actions[i], r.action)
		}
		needs := []string{r.subscription, r.services, r.stb, r.pin}
		// The good instruction: every required and optional field given.
		good := Instruction{Action: string(r.action), SmartcardSerial: "SC0000000001"}
		for j, f := range fields {
			f.set(&good, needs[j] != "refused")
		}
		t.Run(string(r.action), func(t *testing.T) {
			d, ps := Parse(good, now)
			if ps != nil {
				t.Fatalf("good instruction: %s", Join(ps))
			}
			if d.Type != r.typ {
				t.Errorf("type %s, want %s", d.Type, r.typ)
			}
			for j, f := range fields {
				in := good
				var want []fc
				switch needs[j] {
				case "required":
					f.set(&in, false)
					want = []fc{{f.name, CodeMissingField}}
				case "refused":
					f.set(&in, true)
					want = []fc{{f.name, CodeFieldNotAllowed}}
				case "optional":
					f.set(&in, false)
				}
				_, ps := Parse(in, now)
				if got := fieldCodes(t, ps); !slices.Equal(got, want) {
					t.Errorf("%s %s: got %v, want %v", needs[j], f.name, got, want)
				}
			}
		})
	}
}

func TestSplitServices(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"SPORTS", []string{"SPORTS"}},
		{"SPORTS;MOVIES", []string{"SPORTS", "MOVIES"}},
		{"SPORTS;MOVIES;", []string{"SPORTS", "MOVIES"}},
		{" SPORTS ; MOVIES ; ", []string{"SPORTS", "MOVIES"}},
		{";;SPORTS;;;MOVIES;;", []string{"SPORTS", "MOVIES"}},
		{"NEWS;\nKIDS", []string{"NEWS", "KIDS"}}, // a multi-line quoted cell
		{"NEWS;\r\nKIDS;\t", []string{"NEWS", "KIDS"}},
		{";", []string{}},
		{" ; ; ", []string{}},
		{"SPORTS;SPORTS", []string{"SPORTS", "SPORTS"}}, // duplicates are Parse's business
		{"SPORTS,MOVIES", []string{"SPORTS,MOVIES"}},    // only ';' separates
		{"SPORT S", []string{"SPORT S"}},
	}
	for _, tt := range tests {
		got := SplitServices(tt.in)
		if !slices.Equal(got, tt.want) || len(got) != len(tt.want) {
			t.Errorf("SplitServices(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Field: FieldPIN, Code: CodeInvalidPIN, Message: "must be exactly 4 digits"}
	if got, want := p.String(), "pin: must be exactly 4 digits (E_INVALID_PIN)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	q := Problem{Code: CodeMalformedRow, Message: "has 3 fields, the header has 4"}
	if got, want := q.String(), "has 3 fields, the header has 4 (E_MALFORMED_ROW)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := Join([]Problem{p, q}), "pin: must be exactly 4 digits (E_INVALID_PIN); has 3 fields, the header has 4 (E_MALFORMED_ROW)"; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if got := Join(nil); got != "" {
		t.Errorf("Join(nil) = %q, want empty", got)
	}
}

// TestParseMessages pins the messages an operator reads for a few problems, where the
// message carries information (the values, the limits) beyond the code.
func TestParseMessages(t *testing.T) {
	tests := []struct {
		in   Instruction
		want string
	}{
		{
			Instruction{Action: "Add", SmartcardSerial: "SC1"},
			`action: unknown action "Add" (expected one of add_services, cancel_services, pair_smartcard_decoder, reset_pin, set_pin, reset_smartcard) (E_UNKNOWN_ACTION)`,
		},
		{
			Instruction{Action: "add_services", SmartcardSerial: "SC1", SubscriptionNumber: "S1", Services: services(70)},
			"services: 70 services, at most 64 in one instruction (E_TOO_MANY_SERVICES)",
		},
		{
			Instruction{Action: "add_services", SmartcardSerial: "SC1", SubscriptionNumber: "S1", Services: []string{"KIDS", "KIDS"}},
			"services: service KIDS is listed twice (E_DUPLICATE_SERVICE)",
		},
		{
			Instruction{Action: "reset_pin", SmartcardSerial: "SC1"},
			"subscription_number: is required for reset_pin (E_MISSING_FIELD)",
		},
		{
			Instruction{Action: "reset_pin", SmartcardSerial: "SC1", SubscriptionNumber: "S1", ScheduledDate: " 2026-12-01 "},
			`scheduled_date: "2026-12-01" is not RFC 3339 or YYYY-MM-DD HH:MM:SS (E_INVALID_DATE)`,
		},
		{
			Instruction{Action: "set_pin", SmartcardSerial: "SC1", SubscriptionNumber: "S1", PIN: "0000"},
			"pin: 0000 is the default PIN and cannot be set (use reset_pin) (E_INVALID_PIN)",
		},
	}
	for _, tt := range tests {
		_, ps := Parse(tt.in, now)
		if got := Join(ps); got != tt.want {
			t.Errorf("Parse(%+v):\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// TestEveryCodeIsTested reads the Code constants of problem.go and checks that the
// tables of TestParse and TestResolve expect each of them at least once: a new code
// must come with a test. E_MALFORMED_ROW is the CSV layer's, not Parse's or Resolve's.
func TestEveryCodeIsTested(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "problem.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{} // value -> constant name
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") {
					continue
				}
				v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatalf("%s: %v", name.Name, err)
				}
				if prev, dup := codes[v]; dup {
					t.Errorf("%s and %s are both %s", prev, name.Name, v)
				}
				codes[v] = name.Name
			}
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d codes in problem.go: %v", len(codes), codes)
	}
	tested := map[string]bool{CodeMalformedRow: true}
	for _, tt := range parseTests {
		for _, p := range tt.want {
			tested[p.Code] = true
		}
	}
	for _, tt := range resolveTests {
		for _, p := range tt.want {
			tested[p.Code] = true
		}
	}
	for v, name := range codes {
		if !tested[v] {
			t.Errorf("%s (%s) is expected by no row of TestParse or TestResolve", name, v)
		}
	}
}

var fields = []string{
	"", FieldAction, FieldSubscription, FieldSmartcardSerial, FieldSmartcardCAID, FieldSTBSerial,
	FieldServices, FieldPIN, FieldPriority, FieldScheduledDate, FieldProcessImmediately, FieldReference,
}

func FuzzParse(f *testing.F) {
	// action, subscription, serial, CA id, STB, services, PIN, priority, date, immediately, reference
	f.Add("add_services", "S1001", "SC0000000001", "", "", "SPORTS;MOVIES", "", "", "", "", "CRM-0001")
	f.Add("cancel_services", "S1001", "", "1000000001", "", "SPORTS;", "", "express", "2026-12-01T10:00:00+02:00", "TRUE", "")
	f.Add("pair_smartcard_decoder", "", "SC0000000003", "", "STB-0003", "", "", "", "2026-12-01 10:00:00", "false", "")
	f.Add("PAIR_SMARTCARD_DECODER", "", "SC0000000003", "", "", "", "", "", "", "", "")
	f.Add("set_pin", "S1005", "SC0000000005", "", "", "", "0000", "", "", "", "")
	f.Add("set_pin", "S1005", "SC0000000005", "1", "", "", "12a4", "urgent", "2026-02-30 10:00:00", "yes", strings.Repeat("r", 65))
	f.Add("reset_pin", "", "", "", "x", "A;A;;", "123", "", "", "", "")
	f.Add("", "", "", "", "", "", "", "", "", "", "")
	f.Add("\x00", "\xff", " ", "\t", ";", ";;;", "١٢٣٤", "ΕXPRESS", "2026-12-01T10:00:00.999999999-23:59", "tRuE", "é")
	f.Fuzz(func(t *testing.T, action, sub, serial, caID, stb, svc, pin, prio, date, imm, ref string) {
		in := Instruction{
			Action: action, SubscriptionNumber: sub, SmartcardSerial: serial, SmartcardCAID: caID, STBSerial: stb,
			Services: SplitServices(svc), PIN: pin, Priority: prio, ScheduledDate: date, ProcessImmediately: imm, Reference: ref,
		}
		d, ps := Parse(in, now)
		for _, p := range ps {
			if p.Code == "" || p.Message == "" {
				t.Errorf("problem without code or message: %+v", p)
			}
			if !slices.Contains(fields, p.Field) {
				t.Errorf("problem names no known field: %+v", p)
			}
		}
		if len(ps) > 0 {
			return
		}
		if !slices.Contains(Types, d.Type) {
			t.Errorf("type %q is not a request type", d.Type)
		}
		if d.Priority != Regular && d.Priority != Express {
			t.Errorf("priority %q", d.Priority)
		}
		if (d.SmartcardSerial == "") == (d.SmartcardCAID == "") {
			t.Errorf("serial %q, CA id %q: want exactly one", d.SmartcardSerial, d.SmartcardCAID)
		}
		if len(d.ServiceCodes) > MaxServices {
			t.Errorf("%d services", len(d.ServiceCodes))
		}
		if d.ScheduledDate.IsZero() {
			t.Error("zero scheduled date")
		}
		if (d.Type == SetPIN) != (d.PIN != "") {
			t.Errorf("type %s with PIN %q", d.Type, d.PIN)
		}
		if d.Type == SetPIN && (len(d.PIN) != 4 || d.PIN == "0000" || strings.Trim(d.PIN, "0123456789") != "") {
			t.Errorf("PIN %q accepted", d.PIN)
		}
		if (d.Type == AddProducts || d.Type == CancelProducts) != (len(d.ServiceCodes) > 0) {
			t.Errorf("type %s with %d services", d.Type, len(d.ServiceCodes))
		}
		if (d.Type == Pair) != (d.STBSerial != "") {
			t.Errorf("type %s with STB %q", d.Type, d.STBSerial)
		}
		if d.SubscriptionNumber == "" && d.Type != Pair && d.Type != Unpair {
			t.Errorf("type %s without subscription", d.Type)
		}
		if len(d.Reference) > 64 {
			t.Errorf("reference of %d bytes accepted", len(d.Reference))
		}
	})
}
