package api

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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
	references                  map[string]bool // used already
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

func (l *callLookup) ReferenceUsed(r string) bool { return l.references[r] }

// lookupSQL reads everything a call may name in one statement: the queries of
// lookup_items.sql, lookup_item_keys.sql, lookup_subscriptions.sql,
// lookup_subscription_ids.sql, lookup_products.sql and used_references.sql, each as
// a subquery aggregated to JSON, their parameters renumbered $1 to $10 in that
// order. One round trip instead of up to six: the statement that decided how many
// creates per second the API makes (docs/web-api.md). A list a call does not use is
// empty, and its subquery an index probe that finds nothing.
var lookupSQL = func() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	next := 0
	for i, q := range []struct{ name, sql string }{
		{"items", provsql.LookupItems}, {"item_keys", provsql.LookupItemKeys},
		{"subscriptions", provsql.LookupSubscriptions}, {"subscription_ids", provsql.LookupSubscriptionIDs},
		{"products", provsql.LookupProducts}, {"references", provsql.UsedReferences},
	} {
		if i > 0 {
			b.WriteString(",\n       ")
		}
		n := 0
		body := param.ReplaceAllStringFunc(q.sql, func(p string) string {
			k, _ := strconv.Atoi(p[1:])
			n = max(n, k)
			return "$" + strconv.Itoa(next+k)
		})
		next += n
		fmt.Fprintf(&b, "(SELECT coalesce(json_agg(x), '[]') FROM (\n%s\n) x) AS %s", body, q.name)
	}
	return b.String()
}()

var param = regexp.MustCompile(`\$[0-9]+`)

// lookUp reads what the drafts name: their items (by serial number and CA id with
// the importer's query, by id and alternative code), subscriptions, products, and
// which of their references are used, in one statement (lookupSQL). Several drafts
// are the calls of one batch (api/batch.go): what one names is found by its own
// keys, so that reading the others' too changes nothing of what Resolve finds.
func lookUp(ctx context.Context, db *store.DB, drafts ...*provisioning.Draft) (*callLookup, error) {
	l := &callLookup{
		bySerial: map[string]provisioning.Item{}, byCAID: map[string]provisioning.Item{}, byAltCode: map[string]provisioning.Item{},
		byID: map[int64]provisioning.Item{}, subs: map[string]int64{}, subNumbers: map[int64]string{},
		products: map[string]provisioning.Product{}, productsByAlt: map[string]provisioning.Product{}, productsByID: map[int64]provisioning.Product{},
		references: map[string]bool{},
	}
	var serials, caIDs, itemAlts, subNumbers, codes, pAlts, refs []string
	var itemIDs, subByIDs, pIDs []int64
	for _, d := range drafts {
		serials = append(serials, nonEmpty(d.SmartcardSerial, d.STBSerial)...)
		caIDs = append(caIDs, nonEmpty(d.SmartcardCAID)...)
		itemIDs = append(itemIDs, nonZero(d.SmartcardByID, d.STBByID)...)
		itemAlts = append(itemAlts, nonEmpty(d.SmartcardByAltCode, d.STBByAltCode)...)
		subNumbers = append(subNumbers, nonEmpty(d.SubscriptionNumber)...)
		subByIDs = append(subByIDs, nonZero(d.SubscriptionByID)...)
		refs = append(refs, nonEmpty(d.Reference)...)
		codes = append(codes, d.ServiceCodes...)
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
	}
	var row struct {
		Items, ItemKeys, Subs, SubIDs, Products, Refs []byte
	}
	err := db.QueryRowContext(ctx, lookupSQL,
		pq.StringArray(serials), pq.StringArray(caIDs), pq.Int64Array(itemIDs), pq.StringArray(itemAlts),
		pq.StringArray(subNumbers), pq.Int64Array(subByIDs),
		pq.StringArray(codes), pq.Int64Array(pIDs), pq.StringArray(pAlts),
		pq.StringArray(refs),
	).Scan(&row.Items, &row.ItemKeys, &row.Subs, &row.SubIDs, &row.Products, &row.Refs)
	if err != nil {
		return nil, fmt.Errorf("look up reference data: %w", err)
	}
	type item struct {
		ID                 int64  `json:"id"`
		AltCode            string `json:"alternative_code"`
		Kind               string `json:"kind"`
		SerialNumber       string `json:"serial_number"`
		CAID               string `json:"ca_id"`
		SubscriptionID     int64  `json:"subscription_id"`
		SubscriptionNumber string `json:"subscription_number"`
	}
	type sub struct {
		ID     int64  `json:"id"`
		Number string `json:"number"`
	}
	type product struct {
		ID             int64  `json:"id"`
		Code           string `json:"code"`
		AltCode        string `json:"alternative_code"`
		Classification string `json:"classification"`
		CAID           string `json:"ca_id"`
	}
	var (
		items, keyed []item
		subs, subIDs []sub
		products     []product
		used         []struct {
			Reference string `json:"reference"`
		}
	)
	for _, f := range []struct {
		name string
		data []byte
		to   any
	}{
		{"items", row.Items, &items}, {"item keys", row.ItemKeys, &keyed}, {"subscriptions", row.Subs, &subs},
		{"subscription ids", row.SubIDs, &subIDs}, {"products", row.Products, &products}, {"references", row.Refs, &used},
	} {
		if err := json.Unmarshal(f.data, f.to); err != nil {
			return nil, fmt.Errorf("look up %s: %w", f.name, err)
		}
	}
	asItem := func(it item) provisioning.Item {
		return provisioning.Item{Kind: it.Kind, SerialNumber: it.SerialNumber, CAID: it.CAID,
			SubscriptionID: it.SubscriptionID, SubscriptionNumber: it.SubscriptionNumber}
	}
	for _, it := range items {
		l.bySerial[it.SerialNumber], l.byCAID[it.CAID] = asItem(it), asItem(it)
	}
	for _, it := range keyed {
		l.byID[it.ID] = asItem(it)
		if it.AltCode != "" {
			l.byAltCode[it.AltCode] = asItem(it)
		}
	}
	for _, s := range subs {
		l.subs[s.Number] = s.ID
	}
	for _, s := range subIDs {
		l.subNumbers[s.ID] = s.Number
	}
	for _, p := range products {
		pr := provisioning.Product{ID: p.ID, Code: p.Code, AltCode: p.AltCode, Classification: p.Classification, CAID: p.CAID}
		l.products[p.Code], l.productsByID[p.ID] = pr, pr
		if p.AltCode != "" {
			l.productsByAlt[p.AltCode] = pr
		}
	}
	for _, r := range used {
		l.references[r.Reference] = true
	}
	return l, nil
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
