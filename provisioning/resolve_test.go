package provisioning

import (
	"reflect"
	"slices"
	"testing"
)

// memLookup is an in-memory Lookup: the reference data Resolve is checked against.
type memLookup struct {
	items    []Item
	subs     map[string]int64
	products map[string]Product
	refs     map[string]bool
}

func (m *memLookup) ItemBySerial(serial string) (Item, bool) {
	for _, it := range m.items {
		if it.SerialNumber == serial {
			return it, true
		}
	}
	return Item{}, false
}

func (m *memLookup) ItemByCAID(caID string) (Item, bool) {
	for _, it := range m.items {
		if it.CAID == caID {
			return it, true
		}
	}
	return Item{}, false
}

func (m *memLookup) SubscriptionID(number string) (int64, bool) {
	id, ok := m.subs[number]
	return id, ok
}

func (m *memLookup) Product(code string) (Product, bool) {
	p, ok := m.products[code]
	return p, ok
}

func (m *memLookup) ReferenceUsed(ref string) bool { return m.refs[ref] }

// lookup is the reference data of the Resolve tests, shaped like samples/reference.
// Subscription ids differ from the numbers' digits so that a mix-up shows.
var lookup = &memLookup{
	items: []Item{
		{Kind: KindSmartcard, SerialNumber: "SC0000000001", CAID: "1000000001", SubscriptionID: 11, SubscriptionNumber: "S1001"},
		{Kind: KindSmartcard, SerialNumber: "SC0000000002", CAID: "1000000002", SubscriptionID: 12, SubscriptionNumber: "S1002"},
		{Kind: KindSmartcard, SerialNumber: "SC0000000099", CAID: "1000000099"}, // in stock
		{Kind: KindSTB, SerialNumber: "STB-0001", CAID: "7700000001", SubscriptionID: 11, SubscriptionNumber: "S1001"},
		{Kind: KindSTB, SerialNumber: "STB-0099", CAID: "7700000099"}, // in stock
	},
	subs: map[string]int64{"S1001": 11, "S1002": 12, "S1003": 13},
	products: map[string]Product{
		"SPORTS":      {Code: "SPORTS", Classification: ClassificationService, CAID: "P-1001"},
		"MOVIES":      {Code: "MOVIES", Classification: ClassificationService, CAID: "P-1002"},
		"KIDS":        {Code: "KIDS", Classification: ClassificationService, CAID: "P-1003"},
		"DECODER-HD":  {Code: "DECODER-HD", Classification: "HARDWARE"},
		"INSTALL-FEE": {Code: "INSTALL-FEE", Classification: "FEE"},
	},
	refs: map[string]bool{"CRM-USED": true},
}

type resolveTest struct {
	name string
	in   Instruction // must pass Parse
	want []fc        // the problems, in order; nil for a good instruction
	// For a good instruction: what Resolve adds to the draft.
	subscriptionID int64
	smartcardCAID  string
	stbCAID        string
	serviceCAIDs   []string
}

var resolveTests = []resolveTest{
	// Good instructions.
	{
		name:           "add services by serial number",
		in:             Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"MOVIES", "SPORTS", "KIDS"}, Reference: "CRM-NEW"},
		subscriptionID: 11, smartcardCAID: "1000000001", serviceCAIDs: []string{"P-1002", "P-1001", "P-1003"},
	},
	{
		name:           "cancel services by CA id",
		in:             Instruction{Action: "cancel_services", SubscriptionNumber: "S1002", SmartcardCAID: "1000000002", Services: []string{"SPORTS"}},
		subscriptionID: 12, smartcardCAID: "1000000002", serviceCAIDs: []string{"P-1001"},
	},
	{
		name:           "reset PIN",
		in:             Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001"},
		subscriptionID: 11, smartcardCAID: "1000000001",
	},
	{
		name:           "set PIN by CA id",
		in:             Instruction{Action: "set_pin", SubscriptionNumber: "S1001", SmartcardCAID: "1000000001", PIN: "4821"},
		subscriptionID: 11, smartcardCAID: "1000000001",
	},
	{
		name:           "pair without subscription takes the card's",
		in:             Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000002", STBSerial: "STB-0099"},
		subscriptionID: 12, smartcardCAID: "1000000002", stbCAID: "7700000099",
	},
	{
		name:           "pair by CA id without subscription takes the card's",
		in:             Instruction{Action: "pair_smartcard_decoder", SmartcardCAID: "1000000001", STBSerial: "STB-0001"},
		subscriptionID: 11, smartcardCAID: "1000000001", stbCAID: "7700000001",
	},
	{
		name:           "pair with the card's subscription",
		in:             Instruction{Action: "pair_smartcard_decoder", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", STBSerial: "STB-0001"},
		subscriptionID: 11, smartcardCAID: "1000000001", stbCAID: "7700000001",
	},
	{
		name:           "pair a card in stock without subscription",
		in:             Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000099", STBSerial: "STB-0099"},
		subscriptionID: 0, smartcardCAID: "1000000099", stbCAID: "7700000099",
	},
	{
		name:           "unpair",
		in:             Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000001"},
		subscriptionID: 11, smartcardCAID: "1000000001",
	},

	// The smartcard.
	{
		name: "unknown smartcard serial number",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000404"},
		want: []fc{{FieldSmartcardSerial, CodeUnknownSmartcard}},
	},
	{
		name: "unknown smartcard CA id",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardCAID: "1000000404"},
		want: []fc{{FieldSmartcardCAID, CodeUnknownSmartcard}},
	},
	{
		name: "CA id given as serial number",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "1000000001"},
		want: []fc{{FieldSmartcardSerial, CodeUnknownSmartcard}},
	},
	{
		name: "serial number given as CA id",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardCAID: "SC0000000001"},
		want: []fc{{FieldSmartcardCAID, CodeUnknownSmartcard}},
	},
	{
		name: "serial number of an STB",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "STB-0001"},
		want: []fc{{FieldSmartcardSerial, CodeNotASmartcard}},
	},
	{
		name: "CA id of an STB",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardCAID: "7700000001"},
		want: []fc{{FieldSmartcardCAID, CodeNotASmartcard}},
	},

	// The subscription.
	{
		name: "unknown subscription",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S9999", SmartcardSerial: "SC0000000001"},
		want: []fc{{FieldSubscription, CodeUnknownSubscription}},
	},
	{
		name: "unknown subscription and unknown smartcard",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S9999", SmartcardSerial: "SC0000000404"},
		want: []fc{{FieldSmartcardSerial, CodeUnknownSmartcard}, {FieldSubscription, CodeUnknownSubscription}},
	},
	{
		name: "unknown subscription for an STB serial",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S9999", SmartcardSerial: "STB-0001"},
		want: []fc{{FieldSmartcardSerial, CodeNotASmartcard}, {FieldSubscription, CodeUnknownSubscription}},
	},
	{
		// An STB named as the card: the subscription is not compared with the STB's.
		name: "STB serial on another subscription",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1002", SmartcardSerial: "STB-0001"},
		want: []fc{{FieldSmartcardSerial, CodeNotASmartcard}},
	},
	{
		name: "card installed on another subscription",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1002", SmartcardSerial: "SC0000000001", Services: []string{"SPORTS"}},
		want: []fc{{FieldSubscription, CodeNotInstalled}},
	},
	{
		name: "card by CA id installed on another subscription",
		in:   Instruction{Action: "reset_smartcard", SubscriptionNumber: "S1003", SmartcardCAID: "1000000002"},
		want: []fc{{FieldSubscription, CodeNotInstalled}},
	},
	{
		name: "card installed nowhere",
		in:   Instruction{Action: "set_pin", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000099", PIN: "4821"},
		want: []fc{{FieldSubscription, CodeNotInstalled}},
	},
	{
		name: "pair on another subscription",
		in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionNumber: "S1002", SmartcardSerial: "SC0000000001", STBSerial: "STB-0001"},
		want: []fc{{FieldSubscription, CodeNotInstalled}},
	},

	// The STB.
	{
		name: "unknown STB",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000001", STBSerial: "STB-0404"},
		want: []fc{{FieldSTBSerial, CodeUnknownSTB}},
	},
	{
		name: "STB serial of a smartcard",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000001", STBSerial: "SC0000000002"},
		want: []fc{{FieldSTBSerial, CodeNotAnSTB}},
	},
	{
		name: "STB given by its CA id",
		in:   Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "SC0000000001", STBSerial: "7700000001"},
		want: []fc{{FieldSTBSerial, CodeUnknownSTB}},
	},

	// The services.
	{
		name: "unknown service",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"SPORTS", "OPERA"}},
		want: []fc{{FieldServices, CodeUnknownService}},
	},
	{
		name: "service codes are case-sensitive",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"sports"}},
		want: []fc{{FieldServices, CodeUnknownService}},
	},
	{
		name: "service given by its CA id",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"P-1001"}},
		want: []fc{{FieldServices, CodeUnknownService}},
	},
	{
		name: "hardware product",
		in:   Instruction{Action: "cancel_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"DECODER-HD"}},
		want: []fc{{FieldServices, CodeNotAService}},
	},
	{
		name: "each bad service reported",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"INSTALL-FEE", "SPORTS", "OPERA", "DECODER-HD", "BALLET"}},
		want: []fc{{FieldServices, CodeNotAService}, {FieldServices, CodeUnknownService}, {FieldServices, CodeNotAService}, {FieldServices, CodeUnknownService}},
	},

	// The reference.
	{
		name: "reference already used",
		in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Reference: " CRM-USED "},
		want: []fc{{FieldReference, CodeDuplicateReference}},
	},
	{
		name:           "reference differing in case is another",
		in:             Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Reference: "crm-used"},
		subscriptionID: 11, smartcardCAID: "1000000001",
	},

	// Everything at once, in order.
	{
		name: "every reference wrong",
		in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionNumber: "S0000", SmartcardCAID: "0", STBSerial: "SC0000000001", Reference: "CRM-USED"},
		want: []fc{{FieldSmartcardCAID, CodeUnknownSmartcard}, {FieldSubscription, CodeUnknownSubscription}, {FieldSTBSerial, CodeNotAnSTB}, {FieldReference, CodeDuplicateReference}},
	},
	{
		name: "card elsewhere, bad services, used reference",
		in:   Instruction{Action: "add_services", SubscriptionNumber: "S1003", SmartcardSerial: "SC0000000002", Services: []string{"KIDS", "NOPE"}, Reference: "CRM-USED"},
		want: []fc{{FieldSubscription, CodeNotInstalled}, {FieldServices, CodeUnknownService}, {FieldReference, CodeDuplicateReference}},
	},
}

func TestResolve(t *testing.T) {
	for _, tt := range resolveTests {
		t.Run(tt.name, func(t *testing.T) {
			d, ps := Parse(tt.in, now)
			if ps != nil {
				t.Fatalf("Parse: %s", Join(ps))
			}
			r, ps := Resolve(d, lookup)
			if got := fieldCodes(t, ps); !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n got %v\nwant %v\n(%s)", got, tt.want, Join(ps))
			}
			var want Resolved
			if tt.want == nil {
				want = Resolved{Draft: d, SubscriptionID: tt.subscriptionID, SmartcardCAID: tt.smartcardCAID, STBCAID: tt.stbCAID, ServiceCAIDs: tt.serviceCAIDs}
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("resolved:\n got %+v\nwant %+v", r, want)
			}
		})
	}
}

// TestResolveMessages pins what an operator reads for the problems whose message
// names the values involved.
func TestResolveMessages(t *testing.T) {
	tests := []struct {
		in   Instruction
		want string
	}{
		{
			Instruction{Action: "reset_pin", SubscriptionNumber: "S1002", SmartcardSerial: "SC0000000001"},
			"subscription_number: smartcard SC0000000001 is installed on subscription S1001, not S1002 (E_NOT_INSTALLED_ON_SUBSCRIPTION)",
		},
		{
			Instruction{Action: "reset_pin", SubscriptionNumber: "S1002", SmartcardCAID: "1000000099"},
			"subscription_number: smartcard 1000000099 is not installed on any subscription (E_NOT_INSTALLED_ON_SUBSCRIPTION)",
		},
		{
			Instruction{Action: "pair_smartcard_decoder", SmartcardSerial: "STB-0099", STBSerial: "SC0000000099"},
			"smartcard_serial_number: STB-0099 is an STB, not a smartcard (E_NOT_A_SMARTCARD); stb_serial_number: SC0000000099 is a smartcard, not an STB (E_NOT_AN_STB)",
		},
		{
			Instruction{Action: "add_services", SubscriptionNumber: "S1001", SmartcardSerial: "SC0000000001", Services: []string{"INSTALL-FEE"}},
			"services: product INSTALL-FEE is classified FEE, not SERVICE (E_NOT_A_SERVICE)",
		},
	}
	for _, tt := range tests {
		d, ps := Parse(tt.in, now)
		if ps != nil {
			t.Fatalf("Parse(%+v): %s", tt.in, Join(ps))
		}
		_, ps = Resolve(d, lookup)
		if got := Join(ps); got != tt.want {
			t.Errorf("Resolve(%+v):\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// TestResolveDoesNotChangeDraft checks that Resolve keeps the draft's values (the
// CA id the caller gave stays in Draft; the card's is in Resolved.SmartcardCAID).
func TestResolveDoesNotChangeDraft(t *testing.T) {
	in := Instruction{
		Action: "cancel_services", SubscriptionNumber: "S1001", SmartcardCAID: "1000000001", Services: []string{"SPORTS", "KIDS"},
		Priority: "express", ScheduledDate: "2026-12-24 18:00:00", ProcessImmediately: "true", Reference: "CRM-9",
	}
	d, ps := Parse(in, now)
	if ps != nil {
		t.Fatal(Join(ps))
	}
	r, ps := Resolve(d, lookup)
	if ps != nil {
		t.Fatal(Join(ps))
	}
	want := Draft{
		Type: CancelProducts, Priority: Express, ScheduledDate: utc(2026, 12, 24, 18, 0, 0, 0), ProcessImmediately: true,
		Reference: "CRM-9", SubscriptionNumber: "S1001", SmartcardCAID: "1000000001", ServiceCodes: []string{"SPORTS", "KIDS"},
	}
	if !reflect.DeepEqual(r.Draft, want) {
		t.Errorf("draft:\n got %+v\nwant %+v", r.Draft, want)
	}
	if r.SmartcardCAID != "1000000001" || r.SubscriptionID != 11 || !slices.Equal(r.ServiceCAIDs, []string{"P-1001", "P-1003"}) {
		t.Errorf("resolved %+v", r)
	}
}
