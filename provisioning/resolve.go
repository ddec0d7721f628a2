package provisioning

import "fmt"

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
	Code           string `db:"code"`
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

// Resolve checks what a draft names against the reference data and returns the
// request to create, or every problem found.
func Resolve(d Draft, look Lookup) (Resolved, []Problem) {
	var ps problems
	r := Resolved{Draft: d}

	var card Item
	var found bool
	field, key := FieldSmartcardSerial, d.SmartcardSerial
	if key != "" {
		card, found = look.ItemBySerial(key)
	} else {
		field, key = FieldSmartcardCAID, d.SmartcardCAID
		card, found = look.ItemByCAID(key)
	}
	switch {
	case !found:
		ps.add(field, CodeUnknownSmartcard, fmt.Sprintf("no smartcard %s", key))
	case card.Kind != KindSmartcard:
		ps.add(field, CodeNotASmartcard, fmt.Sprintf("%s is %s, not a smartcard", key, kindName(card.Kind)))
		found = false
	default:
		r.SmartcardCAID = card.CAID
		r.SubscriptionID = card.SubscriptionID
	}

	if sub := d.SubscriptionNumber; sub != "" {
		switch {
		case found && card.SubscriptionNumber == sub:
			// The card's own subscription: it exists and the card is installed on it.
		default:
			id, ok := look.SubscriptionID(sub)
			switch {
			case !ok:
				ps.add(FieldSubscription, CodeUnknownSubscription, fmt.Sprintf("no subscription %s", sub))
			case found && card.SubscriptionNumber == "":
				ps.add(FieldSubscription, CodeNotInstalled, fmt.Sprintf("smartcard %s is not installed on any subscription", key))
			case found:
				ps.add(FieldSubscription, CodeNotInstalled, fmt.Sprintf("smartcard %s is installed on subscription %s, not %s", key, card.SubscriptionNumber, sub))
			default:
				r.SubscriptionID = id
			}
		}
	}

	if d.STBSerial != "" {
		stb, ok := look.ItemBySerial(d.STBSerial)
		switch {
		case !ok:
			ps.add(FieldSTBSerial, CodeUnknownSTB, fmt.Sprintf("no STB %s", d.STBSerial))
		case stb.Kind != KindSTB:
			ps.add(FieldSTBSerial, CodeNotAnSTB, fmt.Sprintf("%s is %s, not an STB", d.STBSerial, kindName(stb.Kind)))
		default:
			r.STBCAID = stb.CAID
		}
	}

	if len(d.ServiceCodes) > 0 {
		r.ServiceCAIDs = make([]string, 0, len(d.ServiceCodes))
		for _, code := range d.ServiceCodes {
			p, ok := look.Product(code)
			switch {
			case !ok:
				ps.add(FieldServices, CodeUnknownService, fmt.Sprintf("no service %s", code))
			case p.Classification != ClassificationService:
				ps.add(FieldServices, CodeNotAService, fmt.Sprintf("product %s is classified %s, not SERVICE", code, p.Classification))
			default:
				r.ServiceCAIDs = append(r.ServiceCAIDs, p.CAID)
			}
		}
	}

	if d.Reference != "" && look.ReferenceUsed(d.Reference) {
		ps.add(FieldReference, CodeDuplicateReference, fmt.Sprintf("reference %s is already used by another request", d.Reference))
	}
	if len(ps.list) > 0 {
		return Resolved{}, ps.list
	}
	return r, nil
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
