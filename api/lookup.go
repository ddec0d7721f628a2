package api

import (
	"context"
	"fmt"
	"strconv"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// callLookup is the reference data one call names, read with a few queries before
// Resolve checks the draft against it: provisioning.KeyLookup.
type callLookup struct {
	bySerial, byCAID, byAltCode map[string]provisioning.Item
	byID                        map[int64]provisioning.Item
	subs                        map[string]int64
	subNumbers                  map[int64]string
	products, productsByAlt     map[string]provisioning.Product
	productsByID                map[int64]provisioning.Product
	referenceUsed               bool
}

func (l *callLookup) ItemBySerial(s string) (provisioning.Item, bool) {
	it, ok := l.bySerial[s]
	return it, ok
}

func (l *callLookup) ItemByCAID(c string) (provisioning.Item, bool) {
	it, ok := l.byCAID[c]
	return it, ok
}

func (l *callLookup) ItemByID(id int64) (provisioning.Item, bool) {
	it, ok := l.byID[id]
	return it, ok
}

func (l *callLookup) ItemByAltCode(c string) (provisioning.Item, bool) {
	it, ok := l.byAltCode[c]
	return it, ok
}

func (l *callLookup) SubscriptionID(n string) (int64, bool) {
	id, ok := l.subs[n]
	return id, ok
}

func (l *callLookup) SubscriptionNumber(id int64) (string, bool) {
	n, ok := l.subNumbers[id]
	return n, ok
}

func (l *callLookup) Product(code string) (provisioning.Product, bool) {
	p, ok := l.products[code]
	return p, ok
}

func (l *callLookup) ProductByID(id int64) (provisioning.Product, bool) {
	p, ok := l.productsByID[id]
	return p, ok
}

func (l *callLookup) ProductByAltCode(c string) (provisioning.Product, bool) {
	p, ok := l.productsByAlt[c]
	return p, ok
}

func (l *callLookup) ReferenceUsed(string) bool { return l.referenceUsed }

// lookUp reads what the draft d names: its items (by serial number and CA id with
// the importer's query, by id and alternative code), subscriptions, products, and
// whether its reference is used.
func lookUp(ctx context.Context, db *store.DB, d *provisioning.Draft) (*callLookup, error) {
	l := &callLookup{
		bySerial: map[string]provisioning.Item{}, byCAID: map[string]provisioning.Item{}, byAltCode: map[string]provisioning.Item{},
		byID: map[int64]provisioning.Item{}, subs: map[string]int64{}, subNumbers: map[int64]string{},
		products: map[string]provisioning.Product{}, productsByAlt: map[string]provisioning.Product{}, productsByID: map[int64]provisioning.Product{},
	}
	if err := l.readItems(ctx, db, d); err != nil {
		return nil, err
	}
	if err := l.readSubscriptions(ctx, db, d); err != nil {
		return nil, err
	}
	if err := l.readProducts(ctx, db, d); err != nil {
		return nil, err
	}
	if d.Reference != "" {
		var used []string
		if err := db.SelectContext(ctx, &used, provsql.UsedReferences, pq.StringArray{d.Reference}); err != nil {
			return nil, fmt.Errorf("look up references: %w", err)
		}
		l.referenceUsed = len(used) > 0
	}
	return l, nil
}

// readItems reads the smartcard and STB d names: by serial number and CA id with the
// importer's query, by id and alternative code with another.
func (l *callLookup) readItems(ctx context.Context, db *store.DB, d *provisioning.Draft) error {
	serials := nonEmpty(d.SmartcardSerial, d.STBSerial)
	caIDs := nonEmpty(d.SmartcardCAID)
	if len(serials)+len(caIDs) > 0 {
		var items []provisioning.Item
		if err := db.SelectContext(ctx, &items, provsql.LookupItems, pq.StringArray(serials), pq.StringArray(caIDs)); err != nil {
			return fmt.Errorf("look up items: %w", err)
		}
		for _, it := range items {
			l.bySerial[it.SerialNumber], l.byCAID[it.CAID] = it, it
		}
	}
	ids := nonZero(d.SmartcardByID, d.STBByID)
	alts := nonEmpty(d.SmartcardByAltCode, d.STBByAltCode)
	if len(ids)+len(alts) > 0 {
		var items []struct {
			ID      int64  `db:"id"`
			AltCode string `db:"alternative_code"`
			provisioning.Item
		}
		if err := db.SelectContext(ctx, &items, provsql.LookupItemKeys, pq.Int64Array(ids), pq.StringArray(alts)); err != nil {
			return fmt.Errorf("look up items: %w", err)
		}
		for _, it := range items {
			l.byID[it.ID] = it.Item
			if it.AltCode != "" {
				l.byAltCode[it.AltCode] = it.Item
			}
		}
	}
	return nil
}

// readSubscriptions reads the subscription d names, by number or by id.
func (l *callLookup) readSubscriptions(ctx context.Context, db *store.DB, d *provisioning.Draft) error {
	type sub struct {
		ID     int64  `db:"id"`
		Number string `db:"number"`
	}
	if d.SubscriptionNumber != "" {
		var subs []sub
		if err := db.SelectContext(ctx, &subs, provsql.LookupSubscriptions, pq.StringArray{d.SubscriptionNumber}); err != nil {
			return fmt.Errorf("look up subscriptions: %w", err)
		}
		for _, s := range subs {
			l.subs[s.Number] = s.ID
		}
	}
	if d.SubscriptionByID != 0 {
		var subs []sub
		if err := db.SelectContext(ctx, &subs, provsql.LookupSubscriptionIDs, pq.Int64Array{d.SubscriptionByID}); err != nil {
			return fmt.Errorf("look up subscriptions: %w", err)
		}
		for _, s := range subs {
			l.subNumbers[s.ID] = s.Number
		}
	}
	return nil
}

// readProducts reads the services d names, by code, id or alternative code, in one
// query.
func (l *callLookup) readProducts(ctx context.Context, db *store.DB, d *provisioning.Draft) error {
	codes, pIDs, pAlts := append([]string(nil), d.ServiceCodes...), []int64{}, []string{}
	for _, k := range d.ServicesByKey {
		switch {
		case k.Code != "":
			codes = append(codes, k.Code)
		case k.AltCode != "":
			pAlts = append(pAlts, k.AltCode)
		default:
			id, _ := strconv.ParseInt(k.ID, 10, 64) // Parse checked it
			pIDs = append(pIDs, id)
		}
	}
	if len(codes)+len(pIDs)+len(pAlts) == 0 {
		return nil
	}
	var products []provisioning.Product
	if err := db.SelectContext(ctx, &products, provsql.LookupProducts, pq.StringArray(codes), pq.Int64Array(pIDs), pq.StringArray(pAlts)); err != nil {
		return fmt.Errorf("look up products: %w", err)
	}
	for _, p := range products {
		l.products[p.Code], l.productsByID[p.ID] = p, p
		if p.AltCode != "" {
			l.productsByAlt[p.AltCode] = p
		}
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func nonZero(ids ...int64) []int64 {
	var out []int64
	for _, id := range ids {
		if id != 0 {
			out = append(out, id)
		}
	}
	return out
}
