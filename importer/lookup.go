package importer

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// catalogue is the product catalogue, read once per file: it is small (hundreds of
// products) and every row may name any of it.
type catalogue map[string]provisioning.Product

func loadCatalogue(ctx context.Context, db *store.DB) (catalogue, error) {
	var products []provisioning.Product
	if err := db.SelectContext(ctx, &products, provsql.AllProducts); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	c := make(catalogue, len(products))
	for _, p := range products {
		c[p.Code] = p
	}
	return c, nil
}

// found is the reference data one chunk of rows names, fetched with a few bulk
// queries (fill) instead of a query per row.
type found struct {
	bySerial map[string]provisioning.Item
	byCAID   map[string]provisioning.Item
	subs     map[string]int64
	usedRefs map[string]bool
}

// fileLookup answers provisioning.Lookup for the chunk being checked: its found data,
// plus what holds for the whole file (the catalogue, the references accepted so far).
type fileLookup struct {
	products catalogue
	fileRefs map[string]int // references accepted earlier in the same file -> line
	cur      *found
}

func (l *fileLookup) ItemBySerial(s string) (provisioning.Item, bool) {
	it, ok := l.cur.bySerial[s]
	return it, ok
}

func (l *fileLookup) ItemByCAID(c string) (provisioning.Item, bool) {
	it, ok := l.cur.byCAID[c]
	return it, ok
}

func (l *fileLookup) SubscriptionID(n string) (int64, bool) {
	id, ok := l.cur.subs[n]
	return id, ok
}

func (l *fileLookup) Product(code string) (provisioning.Product, bool) {
	p, ok := l.products[code]
	return p, ok
}

func (l *fileLookup) ReferenceUsed(ref string) bool {
	_, inFile := l.fileRefs[ref]
	return inFile || l.cur.usedRefs[ref]
}

// fill runs a chunk's lookups: the items named by serial number or CA id, the
// subscriptions that the items' own do not already confirm, and the references some
// stored request already uses.
func (f *found) fill(ctx context.Context, db *store.DB, pre *preloaded, rows []*row) error {
	f.bySerial = make(map[string]provisioning.Item, len(rows))
	f.byCAID = map[string]provisioning.Item{}
	f.subs = map[string]int64{}
	f.usedRefs = map[string]bool{}

	var serials, caIDs, refs []string
	for _, r := range rows {
		d := &r.draft
		if d.SmartcardSerial != "" {
			serials = append(serials, d.SmartcardSerial)
		}
		if d.SmartcardCAID != "" {
			caIDs = append(caIDs, d.SmartcardCAID)
		}
		if d.STBSerial != "" {
			serials = append(serials, d.STBSerial)
		}
		if d.Reference != "" {
			refs = append(refs, d.Reference)
		}
	}
	if pre != nil {
		// Everything is in memory: no item query.
		for _, k := range serials {
			if it, ok := pre.bySerialNumber(k); ok {
				f.bySerial[k] = it
			}
		}
		for _, k := range caIDs {
			if it, ok := pre.byCAIDNumber(k); ok {
				f.byCAID[k] = it
			}
		}
	} else if len(serials)+len(caIDs) > 0 {
		var items []provisioning.Item
		if err := db.SelectContext(ctx, &items, provsql.LookupItems, pq.StringArray(serials), pq.StringArray(caIDs)); err != nil {
			return fmt.Errorf("look up items: %w", err)
		}
		for _, it := range items {
			f.bySerial[it.SerialNumber] = it
			if len(caIDs) > 0 {
				f.byCAID[it.CAID] = it
			}
		}
	}

	// Most rows name the subscription their card is installed on, which the item
	// lookup has confirmed; only the others need a query.
	var subs []string
	for _, r := range rows {
		d := &r.draft
		if d.SubscriptionNumber == "" {
			continue
		}
		card, ok := f.bySerial[d.SmartcardSerial]
		if !ok {
			card, ok = f.byCAID[d.SmartcardCAID]
		}
		// As Resolve: only a smartcard's own subscription confirms the number.
		if ok && card.Kind == provisioning.KindSmartcard && card.SubscriptionNumber == d.SubscriptionNumber {
			continue
		}
		subs = append(subs, d.SubscriptionNumber)
	}
	if len(subs) > 0 {
		var rows []struct {
			ID     int64  `db:"id"`
			Number string `db:"number"`
		}
		if err := db.SelectContext(ctx, &rows, provsql.LookupSubscriptions, pq.StringArray(subs)); err != nil {
			return fmt.Errorf("look up subscriptions: %w", err)
		}
		for _, s := range rows {
			f.subs[s.Number] = s.ID
		}
	}

	if len(refs) > 0 {
		var used []string
		if err := db.SelectContext(ctx, &used, provsql.UsedReferences, pq.StringArray(refs)); err != nil {
			return fmt.Errorf("look up references: %w", err)
		}
		for _, ref := range used {
			f.usedRefs[ref] = true
		}
	}
	return nil
}
