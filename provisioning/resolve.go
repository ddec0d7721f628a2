package provisioning

import (
	"fmt"
	"slices"
	"strconv"
)

// Item is an installed item (smartcard or STB) of the reference data.
type Item struct {
	Kind               string `db:"kind"`
	SerialNumber       string `db:"serial_number"`
	CAID               string `db:"ca_id"`
	SubscriptionID     int64  `db:"subscription_id"`     // 0 when the item is not installed on a subscription
	SubscriptionNumber string `db:"subscription_number"` // "" likewise
}

// Product is a product of the reference data's catalogue.
type Product struct {
	ID             int64  `db:"id"`
	Code           string `db:"code"`
	AltCode        string `db:"alternative_code"`
	Classification string `db:"classification"`
	CAID           string `db:"ca_id"`
}

// Lookup answers Resolve's questions about the reference data. The importer fills one
// per chunk of rows from a few bulk queries; a single call fills one for its request.
type Lookup interface {
	ItemBySerial(serial string) (Item, bool)
	ItemByCAID(caID string) (Item, bool)
	SubscriptionID(number string) (int64, bool)
	Product(code string) (Product, bool)
	// ReferenceUsed reports whether a request (stored, or accepted earlier in the
	// same file) already carries the caller's reference.
	ReferenceUsed(ref string) bool
}

// Resolved is a checked instruction: a request ready to be created.
type Resolved struct {
	Draft
	SubscriptionID int64 // 0 when a pairing names no subscription and the card has none
	SmartcardCAID  string
	STBCAID        string
	ServiceCAIDs   []string
}

// KeyLookup also answers for the Web API's other keys. Resolve needs one for a draft
// that names a record by id or alternative code; the importer's drafts never do.
type KeyLookup interface {
	Lookup
	ItemByID(id int64) (Item, bool)
	ItemByAltCode(code string) (Item, bool)
	SubscriptionNumber(id int64) (string, bool)
	ProductByID(id int64) (Product, bool)
	ProductByAltCode(code string) (Product, bool)
}

func keyLookup(look Lookup) KeyLookup {
	kl, ok := look.(KeyLookup)
	if !ok {
		panic("provisioning: the draft names records by id or alternative code, and its Lookup is not a KeyLookup")
	}
	return kl
}

// Resolve checks what a draft names against the reference data and returns the
// request to create, or every problem found.
func Resolve(d Draft, look Lookup) (Resolved, []Problem) {
	var ps problems
	r := Resolved{Draft: d}
	card := resolveSmartcard(&ps, &r, look)
	resolveSubscription(&ps, &r, look, card)
	resolveSTB(&ps, &r, look)
	resolveServices(&ps, &r, look)
	if d.Reference != "" && look.ReferenceUsed(d.Reference) {
		ps.add(FieldReference, CodeDuplicateReference, fmt.Sprintf("reference %s is already used by another request", d.Reference))
	}
	if len(ps.list) > 0 {
		return Resolved{}, ps.list
	}
	return r, nil
}

// foundCard is the draft's smartcard as resolveSmartcard found it.
type foundCard struct {
	Item
	key   string // how messages name it: by its serial number once found
	found bool   // found, and a smartcard
}

// resolveSmartcard finds the draft's smartcard by whichever key the draft gives and
// sets r's smartcard CA id and, from the card, its subscription.
func resolveSmartcard(ps *problems, r *Resolved, look Lookup) foundCard {
	d := &r.Draft
	var card foundCard
	field := FieldSmartcardSerial
	card.key = d.SmartcardSerial
	switch {
	case d.SmartcardSerial != "":
		card.Item, card.found = look.ItemBySerial(card.key)
	case d.SmartcardCAID != "":
		field, card.key = FieldSmartcardCAID, d.SmartcardCAID
		card.Item, card.found = look.ItemByCAID(card.key)
	case d.SmartcardByID != 0:
		field, card.key = FieldSmartcardID, fmt.Sprintf("with id %d", d.SmartcardByID)
		card.Item, card.found = keyLookup(look).ItemByID(d.SmartcardByID)
	case d.SmartcardByAltCode != "":
		field, card.key = FieldSmartcardAltCode, "with alternative code "+d.SmartcardByAltCode
		card.Item, card.found = keyLookup(look).ItemByAltCode(d.SmartcardByAltCode)
	}
	if card.found && field != FieldSmartcardSerial && field != FieldSmartcardCAID {
		card.key = card.SerialNumber // messages about a card found name it by its serial number
	}
	switch {
	case field == FieldSmartcardSerial && card.key == "":
		// No card given: Parse said so.
	case !card.found:
		ps.add(field, CodeUnknownSmartcard, fmt.Sprintf("no smartcard %s", card.key))
	case card.Kind != KindSmartcard:
		ps.add(field, CodeNotASmartcard, fmt.Sprintf("%s is %s, not a smartcard", card.key, kindName(card.Kind)))
		card.found = false
	default:
		r.SmartcardCAID = card.CAID
		r.SubscriptionID = card.SubscriptionID
	}
	return card
}

// resolveSubscription checks the subscription the draft names, if any: it must
// exist and, when the card was found, be the one the card is installed on.
func resolveSubscription(ps *problems, r *Resolved, look Lookup, card foundCard) {
	d := &r.Draft
	sub, subField := d.SubscriptionNumber, FieldSubscription
	var subID int64
	if d.SubscriptionByID != 0 {
		subField = FieldSubscriptionID
		if n, ok := keyLookup(look).SubscriptionNumber(d.SubscriptionByID); ok {
			sub, subID = n, d.SubscriptionByID
		} else {
			ps.add(subField, CodeUnknownSubscription, fmt.Sprintf("no subscription with id %d", d.SubscriptionByID))
		}
	}
	if sub == "" || card.found && card.SubscriptionNumber == sub {
		// None named, or the card's own subscription: it exists and the card is
		// installed on it.
		return
	}
	id, ok := subID, subID != 0
	if !ok {
		id, ok = look.SubscriptionID(sub)
	}
	switch {
	case !ok:
		ps.add(subField, CodeUnknownSubscription, fmt.Sprintf("no subscription %s", sub))
	case card.found && card.SubscriptionNumber == "":
		ps.add(subField, CodeNotInstalled, fmt.Sprintf("smartcard %s is not installed on any subscription", card.key))
	case card.found:
		ps.add(subField, CodeNotInstalled, fmt.Sprintf("smartcard %s is installed on subscription %s, not %s", card.key, card.SubscriptionNumber, sub))
	default:
		r.SubscriptionID = id
	}
}

// resolveSTB finds the draft's STB, if it names one, and sets r's STB CA id.
func resolveSTB(ps *problems, r *Resolved, look Lookup) {
	d := &r.Draft
	if d.STBSerial == "" && d.STBByID == 0 && d.STBByAltCode == "" {
		return
	}
	var stb Item
	var ok bool
	field, key := FieldSTBSerial, d.STBSerial
	switch {
	case d.STBSerial != "":
		stb, ok = look.ItemBySerial(key)
	case d.STBByID != 0:
		field, key = FieldSTBID, fmt.Sprintf("with id %d", d.STBByID)
		stb, ok = keyLookup(look).ItemByID(d.STBByID)
	default:
		field, key = FieldSTBAltCode, "with alternative code "+d.STBByAltCode
		stb, ok = keyLookup(look).ItemByAltCode(d.STBByAltCode)
	}
	switch {
	case !ok:
		ps.add(field, CodeUnknownSTB, fmt.Sprintf("no STB %s", key))
	case stb.Kind != KindSTB:
		ps.add(field, CodeNotAnSTB, fmt.Sprintf("%s is %s, not an STB", stb.SerialNumber, kindName(stb.Kind)))
	default:
		r.STBCAID = stb.CAID
	}
}

// resolveServices finds the draft's services, by code and then by key, and sets r's
// service CA ids in that order.
func resolveServices(ps *problems, r *Resolved, look Lookup) {
	d := &r.Draft
	n := d.services()
	if n == 0 {
		return
	}
	r.ServiceCAIDs = make([]string, 0, n)
	service := func(label string, p Product, ok bool) {
		switch {
		case !ok:
			ps.add(FieldServices, CodeUnknownService, fmt.Sprintf("no service %s", label))
		case p.Classification != ClassificationService:
			ps.add(FieldServices, CodeNotAService, fmt.Sprintf("product %s is classified %s, not SERVICE", p.Code, p.Classification))
		case len(d.ServicesByKey) > 0 && slices.Contains(r.ServiceCAIDs, p.CAID):
			// Two keys of the same service (its code and its id, say).
			ps.add(FieldServices, CodeDuplicateService, fmt.Sprintf("service %s is listed twice", p.Code))
		default:
			r.ServiceCAIDs = append(r.ServiceCAIDs, p.CAID)
		}
	}
	for _, code := range d.ServiceCodes {
		p, ok := look.Product(code)
		service(code, p, ok)
	}
	for _, k := range d.ServicesByKey {
		p, ok := productByKey(look, k)
		service(k.String(), p, ok)
	}
}

// productByKey looks a service up by whichever of its keys k gives.
func productByKey(look Lookup, k ServiceKey) (Product, bool) {
	switch {
	case k.Code != "":
		return look.Product(k.Code)
	case k.ID != "":
		id, _ := strconv.ParseInt(k.ID, 10, 64) // Parse checked it
		return keyLookup(look).ProductByID(id)
	default:
		return keyLookup(look).ProductByAltCode(k.AltCode)
	}
}

func kindName(kind string) string {
	switch kind {
	case KindSmartcard:
		return "a smartcard"
	case KindSTB:
		return "an STB"
	}
	return "a " + kind
}
