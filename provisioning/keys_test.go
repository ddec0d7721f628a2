package provisioning

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// keyLookup is lookup plus the Web API's keys: ids and alternative codes. Ids differ
// from everything else's digits so that a mix-up shows.
type memKeyLookup struct {
	*memLookup
	itemIDs    map[int64]string // id -> serial number
	itemAlts   map[string]string
	subIDs     map[int64]string // id -> number
	productIDs map[int64]string // id -> code
	prodAlts   map[string]string
}

func (m *memKeyLookup) ItemByID(id int64) (Item, bool) {
	s, ok := m.itemIDs[id]
	if !ok {
		return Item{}, false
	}
	return m.ItemBySerial(s)
}

func (m *memKeyLookup) ItemByAltCode(c string) (Item, bool) {
	s, ok := m.itemAlts[c]
	if !ok {
		return Item{}, false
	}
	return m.ItemBySerial(s)
}

func (m *memKeyLookup) SubscriptionNumber(id int64) (string, bool) {
	n, ok := m.subIDs[id]
	return n, ok
}

func (m *memKeyLookup) ProductByID(id int64) (Product, bool) {
	c, ok := m.productIDs[id]
	if !ok {
		return Product{}, false
	}
	return m.Product(c)
}

func (m *memKeyLookup) ProductByAltCode(a string) (Product, bool) {
	c, ok := m.prodAlts[a]
	if !ok {
		return Product{}, false
	}
	return m.Product(c)
}

var keys = &memKeyLookup{
	memLookup:  lookup,
	itemIDs:    map[int64]string{501: "SC0000000001", 502: "SC0000000002", 599: "SC0000000099", 601: "STB-0001", 699: "STB-0099"},
	itemAlts:   map[string]string{"ALT-SC-1": "SC0000000001", "ALT-STB-99": "STB-0099"},
	subIDs:     map[int64]string{711: "S1001", 712: "S1002", 713: "S1003"},
	productIDs: map[int64]string{801: "SPORTS", 802: "MOVIES", 803: "KIDS", 804: "DECODER-HD"},
	prodAlts:   map[string]string{"SPT": "SPORTS", "MOV": "MOVIES"},
}

// TestParseKeys checks the Web API's keys: at most one per record, ids are numbers,
// each service by exactly one key; and that the field rules hold for them as for the
// instruction file's keys.
func TestParseKeys(t *testing.T) {
	runParse(t, []parseTest{
		{
			name: "all by id",
			in: Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: " 501 ",
				ServicesByKey: []ServiceKey{{ID: "801"}, {Code: " MOVIES "}, {AltCode: "SPT2"}}},
			d: draft("", func(d *Draft) {
				d.Type, d.SubscriptionByID, d.SmartcardByID = AddProducts, 711, 501
				d.ServicesByKey = []ServiceKey{{ID: "801"}, {Code: "MOVIES"}, {AltCode: "SPT2"}}
			}),
		},
		{
			name: "pair by alternative codes",
			in:   Instruction{Action: "pair_smartcard_decoder", SmartcardByAltCode: "ALT-SC-1", STBByAltCode: "ALT-STB-99"},
			d: draft("", func(d *Draft) {
				d.Type, d.SmartcardByAltCode, d.STBByAltCode = Pair, "ALT-SC-1", "ALT-STB-99"
			}),
		},
		{
			name: "pair by STB id",
			in:   Instruction{Action: "pair_smartcard_decoder", SmartcardByID: "501", STBByID: "601"},
			d:    draft("", func(d *Draft) { d.Type, d.SmartcardByID, d.STBByID = Pair, 501, 601 }),
		},
		{
			name: "unpair by card id",
			in:   Instruction{Action: "pair_smartcard_decoder", SmartcardByID: "501"},
			d:    draft("", func(d *Draft) { d.Type, d.SmartcardByID = Unpair, 501 }),
		},
		{
			name: "two keys of a card",
			in:   Instruction{Action: "reset_pin", SubscriptionByID: "711", SmartcardSerial: "SC0000000001", SmartcardByID: "501"},
			want: []fc{{FieldSmartcardID, CodeFieldNotAllowed}},
		},
		{
			name: "two keys of a subscription",
			in:   Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SubscriptionByID: "711", SmartcardByID: "501"},
			want: []fc{{FieldSubscriptionID, CodeFieldNotAllowed}},
		},
		{
			name: "two keys of an STB",
			in:   Instruction{Action: "pair_smartcard_decoder", SmartcardByID: "501", STBByID: "601", STBByAltCode: "X"},
			want: []fc{{FieldSTBAltCode, CodeFieldNotAllowed}},
		},
		{
			name: "subscription by id is still required",
			in:   Instruction{Action: "set_pin", SmartcardByID: "501", PIN: "4821"},
			want: []fc{{FieldSubscription, CodeMissingField}},
		},
		{
			name: "an STB id is refused outside pairing",
			in:   Instruction{Action: "reset_smartcard", SubscriptionByID: "711", SmartcardByID: "501", STBByID: "601"},
			want: []fc{{FieldSTBID, CodeFieldNotAllowed}},
		},
		{
			name: "services by key are refused outside add and cancel",
			in:   Instruction{Action: "reset_pin", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: []ServiceKey{{ID: "801"}}},
			want: []fc{{FieldServices, CodeFieldNotAllowed}},
		},
		{
			name: "bad ids",
			in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionByID: "S1001", SmartcardByID: "0", STBByID: "-3"},
			want: []fc{{FieldSmartcardID, CodeInvalidID}, {FieldSTBID, CodeInvalidID}, {FieldSubscriptionID, CodeInvalidID}},
		},
		{
			name: "service keys: none, two, a bad id, twice the same",
			in: Instruction{Action: "cancel_services", SubscriptionByID: "711", SmartcardByID: "501",
				ServicesByKey: []ServiceKey{{}, {ID: "801", Code: "SPORTS"}, {ID: "x"}, {AltCode: "SPT"}, {AltCode: "SPT"}}},
			want: []fc{{FieldServices, CodeMissingField}, {FieldServices, CodeFieldNotAllowed}, {FieldServices, CodeInvalidID}, {FieldServices, CodeDuplicateService}},
		},
		{
			name: "services by code and by key",
			in:   Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: "501", Services: []string{"KIDS"}, ServicesByKey: []ServiceKey{{ID: "801"}}},
			want: []fc{{FieldServices, CodeFieldNotAllowed}},
		},
		{
			name: "too many services by key",
			in:   Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: serviceKeys(65)},
			want: []fc{{FieldServices, CodeTooManyServices}},
		},
		{
			name: "an empty service list is none",
			in:   Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: []ServiceKey{}},
			want: []fc{{FieldServices, CodeMissingField}},
		},
	})
}

func serviceKeys(n int) []ServiceKey {
	var ks []ServiceKey
	for _, c := range services(n) {
		ks = append(ks, ServiceKey{Code: c})
	}
	return ks
}

// TestResolveKeys checks each of the Web API's keys against the reference data, with
// the same codes as the instruction file's keys.
func TestResolveKeys(t *testing.T) {
	tests := []struct {
		name         string
		in           Instruction
		want         string // Join of the problems; "" for a good instruction
		subscription int64
		card, stb    string
		services     []string
	}{
		{
			name:         "card and subscription by id, services by every key",
			in:           Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: []ServiceKey{{ID: "803"}, {Code: "SPORTS"}, {AltCode: "MOV"}}},
			subscription: 11, card: "1000000001", services: []string{"P-1003", "P-1001", "P-1002"},
		},
		{
			name:         "card by alternative code, subscription by number",
			in:           Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardByAltCode: "ALT-SC-1"},
			subscription: 11, card: "1000000001",
		},
		{
			name:         "pair by id and alternative code",
			in:           Instruction{Action: "pair_smartcard_decoder", SmartcardByID: "502", STBByAltCode: "ALT-STB-99"},
			subscription: 12, card: "1000000002", stb: "7700000099",
		},
		{
			name: "pair a card in stock on a subscription by id",
			in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionByID: "712", SmartcardByID: "599", STBByID: "699"},
			want: "subscription_id: smartcard SC0000000099 is not installed on any subscription (E_NOT_INSTALLED_ON_SUBSCRIPTION)",
		},
		{
			name: "unknown keys",
			in:   Instruction{Action: "pair_smartcard_decoder", SubscriptionByID: "719", SmartcardByID: "509", STBByAltCode: "NOPE"},
			want: "smartcard_id: no smartcard with id 509 (E_UNKNOWN_SMARTCARD); subscription_id: no subscription with id 719 (E_UNKNOWN_SUBSCRIPTION); stb_alternative_code: no STB with alternative code NOPE (E_UNKNOWN_STB)",
		},
		{
			name: "unknown services",
			in:   Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByAltCode: "NOPE", ServicesByKey: []ServiceKey{{ID: "809"}, {AltCode: "XX"}, {Code: "YY"}}},
			want: "smartcard_alternative_code: no smartcard with alternative code NOPE (E_UNKNOWN_SMARTCARD); services: no service with id 809 (E_UNKNOWN_SERVICE); services: no service with alternative code XX (E_UNKNOWN_SERVICE); services: no service YY (E_UNKNOWN_SERVICE)",
		},
		{
			name: "wrong classifications",
			in:   Instruction{Action: "pair_smartcard_decoder", SmartcardByID: "601", STBByID: "599"},
			want: "smartcard_id: STB-0001 is an STB, not a smartcard (E_NOT_A_SMARTCARD); stb_id: SC0000000099 is a smartcard, not an STB (E_NOT_AN_STB)",
		},
		{
			name: "a hardware product by id",
			in:   Instruction{Action: "add_services", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: []ServiceKey{{ID: "804"}}},
			want: "services: product DECODER-HD is classified HARDWARE, not SERVICE (E_NOT_A_SERVICE)",
		},
		{
			name: "one service by two keys",
			in:   Instruction{Action: "cancel_services", SubscriptionByID: "711", SmartcardByID: "501", ServicesByKey: []ServiceKey{{Code: "SPORTS"}, {ID: "801"}}},
			want: "services: service SPORTS is listed twice (E_DUPLICATE_SERVICE)",
		},
		{
			name: "card on another subscription by id",
			in:   Instruction{Action: "reset_smartcard", SubscriptionByID: "712", SmartcardByID: "501"},
			want: "subscription_id: smartcard SC0000000001 is installed on subscription S1001, not S1002 (E_NOT_INSTALLED_ON_SUBSCRIPTION)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ps := Parse(tt.in, now)
			if ps != nil {
				t.Fatalf("Parse: %s", Join(ps))
			}
			r, ps := Resolve(d, keys)
			if got := Join(ps); got != tt.want {
				t.Fatalf("problems:\n got %s\nwant %s", got, tt.want)
			}
			if tt.want != "" {
				return
			}
			want := Resolved{Draft: d, SubscriptionID: tt.subscription, SmartcardCAID: tt.card, STBCAID: tt.stb, ServiceCAIDs: tt.services}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("resolved:\n got %+v\nwant %+v", r, want)
			}
		})
	}
}

// TestResolveKeysNeedKeyLookup: a Lookup without the other keys is a programming
// error, not a silent "unknown".
func TestResolveKeysNeedKeyLookup(t *testing.T) {
	d, ps := Parse(Instruction{Action: "reset_pin", SubscriptionNumber: "S1001", SmartcardByID: "501"}, now)
	if ps != nil {
		t.Fatal(Join(ps))
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "KeyLookup") {
			t.Errorf("recovered %v, want a panic naming KeyLookup", r)
		}
	}()
	Resolve(d, lookup)
}

// TestResolveWithoutCard: an instruction that names no card (Parse refused it) gets
// no second problem about the card from Resolve, whatever its Lookup.
func TestResolveWithoutCard(t *testing.T) {
	d, ps := Parse(Instruction{Action: "reset_pin", SubscriptionNumber: "S1001"}, now)
	if got := fieldCodes(t, ps); !slices.Equal(got, []fc{{FieldSmartcardSerial, CodeMissingField}}) {
		t.Fatalf("Parse: %s", Join(ps))
	}
	if _, ps := Resolve(d, lookup); ps != nil {
		t.Errorf("Resolve: %s, want nothing more", Join(ps))
	}
}
