package reconcile

import (
	"slices"
	"strings"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/provisioning"
)

// card is one card to reconcile, as sql/queries/reconcile_cards.sql reads it (its
// columns, in the order scanCards reads them).
type card struct {
	ID                 int64  `db:"id"`
	Serial             string `db:"serial_number"`
	CAID               string `db:"ca_id"`
	SubscriptionID     int64  `db:"subscription_id"`
	SubscriptionNumber string `db:"subscription_number"`
	SubscriptionState  string `db:"subscription_state"`
	ProductIDs         string `db:"product_ids"` // an array literal: {3,7}
	STBChecked         bool   `db:"stb_checked"`
	STBSerial          string `db:"stb_serial"`
	STBCAID            string `db:"stb_ca_id"`
	Busy               bool   // a PENDING request: checkBusy, and prepare's recheck
}

// catalogue is the products by id and by CA id: small, read once per run.
type catalogue struct {
	byID   map[string]provisioning.Product // by id as text, as the array literal has it
	byCA   map[string]provisioning.Product
	byCode map[string]provisioning.Product
}

// expected is the CRM's view of c: product CA ids (sorted), none when its
// subscription is not ACTIVE whatever the file says.
func (cat *catalogue) expected(c *card) []string {
	if !strings.EqualFold(c.SubscriptionState, "ACTIVE") {
		return nil
	}
	ids := strings.Trim(c.ProductIDs, "{}")
	if ids == "" {
		return nil
	}
	// Cut rather than Split, the result made to size: this runs for every card.
	out := make([]string, 0, strings.Count(ids, ",")+1)
	for ids != "" {
		var id string
		id, ids, _ = strings.Cut(ids, ",")
		if p, ok := cat.byID[id]; ok && p.CAID != "" {
			out = append(out, p.CAID)
		}
	}
	slices.Sort(out)
	return out
}

// drift is one difference of one card, and the request that sets it right.
type drift struct {
	Kind             string
	Expected, Actual []string // product CA ids, or one STB CA id
	Action           provisioning.Action
	CAIDs            []string // the products to add or cancel; the STB to pair with ("" = unpair)
}

// compare finds the differences between what the CRM expects of c (products,
// and the STB when the file said) and the gateway's state st of an ACTIVE card.
func compare(c *card, want []string, st casapi.SmartcardState) []drift {
	var ds []drift
	// The state is the run's own copy, decoded from the answer: sorted in place
	// (a gateway sends them sorted already), not cloned for every card.
	have := st.Products
	if !slices.IsSorted(have) {
		slices.Sort(have)
	}
	var missing, extra []string
	for _, p := range want {
		if _, ok := slices.BinarySearch(have, p); !ok {
			missing = append(missing, p)
		}
	}
	for _, p := range have {
		if _, ok := slices.BinarySearch(want, p); !ok {
			extra = append(extra, p)
		}
	}
	if len(missing) > 0 {
		ds = append(ds, drift{Kind: KindMissingProducts, Expected: want, Actual: have, Action: provisioning.ActionAddServices, CAIDs: missing})
	}
	if len(extra) > 0 {
		ds = append(ds, drift{Kind: KindExtraProducts, Expected: want, Actual: have, Action: provisioning.ActionCancelServices, CAIDs: extra})
	}
	if c.STBChecked && c.STBCAID != st.STB {
		d := drift{Expected: nonEmpty(c.STBCAID), Actual: nonEmpty(st.STB), Action: provisioning.ActionPair, CAIDs: []string{c.STBCAID}}
		switch {
		case c.STBCAID == "":
			d.Kind = KindExtraPairing
		case st.STB == "":
			d.Kind = KindMissingPairing
		default:
			d.Kind = KindWrongPairing
		}
		ds = append(ds, d)
	}
	return ds
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (c *Counts) add(kind string) {
	switch kind {
	case KindMissingProducts:
		c.MissingProducts++
	case KindExtraProducts:
		c.ExtraProducts++
	case KindWrongPairing:
		c.WrongPairing++
	case KindMissingPairing:
		c.MissingPairing++
	case KindExtraPairing:
		c.ExtraPairing++
	case KindBusy:
		c.Busy++
	case KindUnknown:
		c.Unknown++
	case KindDisabled:
		c.Disabled++
	}
}
