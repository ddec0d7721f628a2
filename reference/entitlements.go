package reference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

// Entitlement is a row of entitlements.csv: the CRM's whole view of one card.
type Entitlement struct {
	SmartcardSerial string `csv:"smartcard_serial_number"`
	// Services are product codes separated by ';'; empty: the card should have none.
	Services string `csv:"services"`
	// STBSerial is the STB the card should be paired with; empty: none. When the
	// file has no such column, pairings are not reconciled.
	STBSerial string `csv:"stb_serial_number"`
}

func checkEntitlement(r *Entitlement) []string {
	r.SmartcardSerial, r.STBSerial = strings.TrimSpace(r.SmartcardSerial), strings.TrimSpace(r.STBSerial)
	var ps []string
	if r.SmartcardSerial == "" {
		ps = append(ps, "smartcard_serial_number: is required")
	}
	seen := map[string]bool{}
	for _, code := range provisioning.SplitServices(r.Services) {
		if seen[code] {
			ps = append(ps, fmt.Sprintf("services: %s is listed twice", code))
		}
		seen[code] = true
	}
	return ps
}

// entitlementLoader checks entitlements against the reference data and writes them.
// The file replaces every entitlement stored: each row is the CRM's whole view of a
// card, and a card the CRM no longer lists must no longer be reconciled.
type entitlementLoader struct {
	products map[string]provisioning.Product // by code
	cleared  bool
}

func newEntitlementLoader(ctx context.Context, tx *sqlx.Tx) (*entitlementLoader, error) {
	var all []provisioning.Product
	if err := tx.SelectContext(ctx, &all, provsql.AllProducts); err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	el := &entitlementLoader{products: make(map[string]provisioning.Product, len(all))}
	for _, p := range all {
		el.products[p.Code] = p
	}
	if _, err := tx.ExecContext(ctx, provsql.ClearEntitlements); err != nil {
		return nil, fmt.Errorf("clear entitlements: %w", err)
	}
	return el, nil
}

// insert checks one chunk (the smartcard is a smartcard, the STB an STB, each
// service a SERVICE) and inserts it; it returns the rows found bad.
func (el *entitlementLoader) insert(ctx context.Context, tx *sqlx.Tx, present map[string]bool, rows []Entitlement, lines []int) ([]RowError, error) {
	serials := make([]string, 0, 2*len(rows))
	for _, r := range rows {
		serials = append(serials, r.SmartcardSerial)
		if r.STBSerial != "" {
			serials = append(serials, r.STBSerial)
		}
	}
	var items []struct {
		ID     int64  `db:"id"`
		Kind   string `db:"kind"`
		Serial string `db:"serial_number"`
	}
	if err := tx.SelectContext(ctx, &items, provsql.ItemIDsBySerial, pq.StringArray(serials)); err != nil {
		return nil, fmt.Errorf("look up items: %w", err)
	}
	type item struct {
		id   int64
		kind string
	}
	bySerial := make(map[string]item, len(items))
	for _, it := range items {
		bySerial[it.Serial] = item{it.ID, it.Kind}
	}
	var bad []RowError
	cards, products, stbs := make([]int64, 0, len(rows)), make([]string, 0, len(rows)), make([]int64, 0, len(rows))
	for i, r := range rows {
		var ps []string
		card, ok := bySerial[r.SmartcardSerial]
		switch {
		case !ok:
			ps = append(ps, fmt.Sprintf("smartcard_serial_number: no smartcard %s", r.SmartcardSerial))
		case card.kind != provisioning.KindSmartcard:
			ps = append(ps, fmt.Sprintf("smartcard_serial_number: %s is an STB, not a smartcard", r.SmartcardSerial))
		}
		var stbID int64
		if r.STBSerial != "" {
			stb, ok := bySerial[r.STBSerial]
			switch {
			case !ok:
				ps = append(ps, fmt.Sprintf("stb_serial_number: no STB %s", r.STBSerial))
			case stb.kind != provisioning.KindSTB:
				ps = append(ps, fmt.Sprintf("stb_serial_number: %s is a smartcard, not an STB", r.STBSerial))
			default:
				stbID = stb.id
			}
		}
		var ids []string
		for _, code := range provisioning.SplitServices(r.Services) {
			p, ok := el.products[code]
			switch {
			case !ok:
				ps = append(ps, fmt.Sprintf("services: no service %s", code))
			case p.Classification != provisioning.ClassificationService:
				ps = append(ps, fmt.Sprintf("services: product %s is classified %s, not SERVICE", code, p.Classification))
			default:
				ids = append(ids, strconv.FormatInt(p.ID, 10))
			}
		}
		if len(ps) > 0 {
			bad = append(bad, RowError{File: EntitlementsFile, Line: lines[i], Reason: strings.Join(ps, "; ")})
			continue
		}
		cards = append(cards, card.id)
		products = append(products, "{"+strings.Join(ids, ",")+"}")
		stbs = append(stbs, stbID)
	}
	if len(bad) > 0 {
		return bad, nil // the file will not load: no need to write
	}
	if _, err := tx.ExecContext(ctx, provsql.InsertEntitlements, pq.Int64Array(cards), pq.StringArray(products),
		pq.Int64Array(stbs), present["stb_serial_number"]); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	return nil, nil
}

// EntitledState is a card's expected state as the gateway names it: CA ids.
type EntitledState struct {
	Smartcard string
	Products  []string
	STB       string
}

// ReadEntitled returns the expected state of every card of dir's entitlements.csv,
// in CA ids, from the directory's own smartcards, STBs and products: what a gateway
// in sync with the CRM holds (the simulator's -entitlements). No file: none. A row
// that names what the directory does not have is an error.
func ReadEntitled(dir string) ([]EntitledState, error) {
	path := filepath.Join(dir, EntitlementsFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	caOf := func(file string) (map[string]string, error) {
		m := map[string]string{}
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return m, nil
		}
		var bad []RowError
		var err error
		if file == ProductsFile {
			bad, err = readRows(p, checkProduct, func(_ int, r *Product) error { m[r.Code] = r.CAID; return nil })
		} else {
			bad, err = readRows(p, checkItem, func(_ int, r *Item) error { m[r.SerialNumber] = r.CAID; return nil })
		}
		if err == nil && len(bad) > 0 {
			err = bad[0]
		}
		return m, err
	}
	cards, err := caOf(SmartcardsFile)
	if err != nil {
		return nil, err
	}
	stbs, err := caOf(STBsFile)
	if err != nil {
		return nil, err
	}
	products, err := caOf(ProductsFile)
	if err != nil {
		return nil, err
	}
	var out []EntitledState
	bad, err := readRows(path, checkEntitlement, func(line int, r *Entitlement) error {
		st := EntitledState{Smartcard: cards[r.SmartcardSerial]}
		if st.Smartcard == "" {
			return RowError{File: EntitlementsFile, Line: line, Reason: "no smartcard " + r.SmartcardSerial}
		}
		if r.STBSerial != "" {
			if st.STB = stbs[r.STBSerial]; st.STB == "" {
				return RowError{File: EntitlementsFile, Line: line, Reason: "no STB " + r.STBSerial}
			}
		}
		for _, code := range provisioning.SplitServices(r.Services) {
			ca := products[code]
			if ca == "" {
				return RowError{File: EntitlementsFile, Line: line, Reason: "no service " + code}
			}
			st.Products = append(st.Products, ca)
		}
		out = append(out, st)
		return nil
	})
	if err == nil && len(bad) > 0 {
		err = bad[0]
	}
	return out, err
}
