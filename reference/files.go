package reference

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gocarina/gocsv"

	"github.com/provisioner/provisioner/csvin"
	"github.com/provisioner/provisioner/provisioning"
)

// The file names of a reference directory, in loading order.
const (
	SubscriptionsFile = "subscriptions.csv"
	SmartcardsFile    = "smartcards.csv"
	STBsFile          = "stbs.csv"
	ProductsFile      = "products.csv"
	// EntitlementsFile is the CRM's expected state of its cards, for reconciliation
	// (entitlements.go): loaded last, as it names smartcards, STBs and products.
	EntitlementsFile = "entitlements.csv"
)

// Files lists the reference files in the order they are loaded: subscriptions first,
// because installed items name them.
var Files = []string{SubscriptionsFile, SmartcardsFile, STBsFile, ProductsFile, EntitlementsFile}

// Subscription is a row of subscriptions.csv.
type Subscription struct {
	Number string `csv:"number"`
	State  string `csv:"state"`
}

// Item is a row of smartcards.csv or stbs.csv.
type Item struct {
	SerialNumber       string `csv:"serial_number"`
	AlternativeCode    string `csv:"alternative_code"`
	CAID               string `csv:"ca_id"`
	SubscriptionNumber string `csv:"subscription_number"`
}

// Product is a row of products.csv.
type Product struct {
	Code            string `csv:"code"`
	AlternativeCode string `csv:"alternative_code"`
	Classification  string `csv:"classification"`
	CAID            string `csv:"ca_id"`
}

// optionalColumns may be left out of a file's header.
var optionalColumns = map[string]bool{"alternative_code": true, "subscription_number": true, "stb_serial_number": true}

// RowError is a bad row of a reference file.
type RowError struct {
	File   string
	Line   int
	Reason string
}

func (e RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// readRows decodes the rows of a reference file into T with gocsv, checks each with
// check (which trims the row in place and returns its problems) and hands the good
// ones to fn. It returns the bad rows; an error means the file could not be read at
// all (missing, refused whole by the CSV layer, bad header).
func readRows[T any](path string, check func(*T) []string, fn func(line int, row *T) error) ([]RowError, error) {
	return readRowsColumns(path, nil, check, fn)
}

// readRowsColumns is readRows that also reports, in present (when not nil), which
// columns the header has, before the first row reaches fn.
func readRowsColumns[T any](path string, present map[string]bool, check func(*T) []string, fn func(line int, row *T) error) ([]RowError, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	cr := csvin.NewCSVReader(f)
	cr.FieldsPerRecord = 0 // every row must have the header's fields: gocsv would pad or drop silently
	um, err := gocsv.NewUnmarshaller(cr, new(T))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, headerError(err))
	}
	if err := um.RenormalizeHeaders(normalizeHeader); err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	if len(um.MismatchedHeaders) > 0 {
		return nil, fmt.Errorf("%s: header: unknown column %q", name, um.MismatchedHeaders[0])
	}
	for _, col := range um.MismatchedStructFields {
		if !optionalColumns[col] {
			return nil, fmt.Errorf("%s: header: missing column %q", name, col)
		}
	}
	if present != nil {
		for _, h := range um.Headers {
			present[h] = true
		}
	}

	var bad []RowError
	seen := map[string]int{} // each unique value (key, CA id, alternative code) -> line
	for {
		v, err := um.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var fe *csvin.FileError
		var pe *csv.ParseError
		switch {
		case errors.As(err, &fe):
			return nil, fmt.Errorf("%s: %w", name, fe)
		case errors.As(err, &pe):
			// Not FieldPos: it panics when the error came before the first field ended.
			bad = append(bad, RowError{File: name, Line: pe.StartLine, Reason: pe.Err.Error()})
			continue
		}
		line, _ := cr.FieldPos(0) // a whole record was read: it has a first field
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		row := v.(*T) // gocsv hands back a pointer to a new T
		if allEmpty(row) {
			continue // spreadsheets leave rows of empty cells behind
		}
		if problems := check(row); len(problems) > 0 {
			bad = append(bad, RowError{File: name, Line: line, Reason: strings.Join(problems, "; ")})
			continue
		}
		var dups []string
		for _, key := range uniqueValues(row) {
			if first, dup := seen[key]; dup {
				dups = append(dups, fmt.Sprintf("%s is also on line %d", key, first))
			}
		}
		if len(dups) > 0 {
			bad = append(bad, RowError{File: name, Line: line, Reason: strings.Join(dups, "; ")})
			continue
		}
		for _, key := range uniqueValues(row) {
			seen[key] = line
		}
		if err := fn(line, row); err != nil {
			return nil, err
		}
	}
	return bad, nil
}

func headerError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("no header: the file is empty")
	}
	return err
}

func normalizeHeader(h []string) []string {
	out := make([]string, len(h))
	for i, s := range h {
		out[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\ufeff")))
	}
	return out
}

func allEmpty(row any) bool {
	switch r := row.(type) {
	case *Subscription:
		return r.Number == "" && r.State == ""
	case *Item:
		return r.SerialNumber == "" && r.AlternativeCode == "" && r.CAID == "" && r.SubscriptionNumber == ""
	case *Product:
		return r.Code == "" && r.AlternativeCode == "" && r.Classification == "" && r.CAID == ""
	case *Entitlement:
		return r.SmartcardSerial == "" && r.Services == "" && r.STBSerial == ""
	}
	return false
}

// uniqueValues are a row's values that the database keeps unique: its key first.
func uniqueValues(row any) []string {
	var vals []string
	add := func(label, v string) {
		if v != "" {
			vals = append(vals, label+" "+v)
		}
	}
	switch r := row.(type) {
	case *Subscription:
		add("subscription", r.Number)
	case *Item:
		add("serial number", r.SerialNumber)
		add("ca_id", r.CAID)
		add("alternative_code", r.AlternativeCode)
	case *Product:
		add("product", r.Code)
		add("ca_id", r.CAID)
		add("alternative_code", r.AlternativeCode)
	case *Entitlement:
		add("smartcard", r.SmartcardSerial)
		// Two cards expected on one STB would take it from each other at every run.
		add("stb_serial_number", r.STBSerial)
	}
	return vals
}

func checkSubscription(r *Subscription) []string {
	r.Number, r.State = strings.TrimSpace(r.Number), strings.ToUpper(strings.TrimSpace(r.State))
	var ps []string
	if r.Number == "" {
		ps = append(ps, "number: is required")
	}
	if r.State == "" {
		ps = append(ps, "state: is required")
	}
	return ps
}

func checkItem(r *Item) []string {
	r.SerialNumber, r.AlternativeCode = strings.TrimSpace(r.SerialNumber), strings.TrimSpace(r.AlternativeCode)
	r.CAID, r.SubscriptionNumber = strings.TrimSpace(r.CAID), strings.TrimSpace(r.SubscriptionNumber)
	var ps []string
	if r.SerialNumber == "" {
		ps = append(ps, "serial_number: is required")
	}
	if r.CAID == "" {
		ps = append(ps, "ca_id: is required")
	}
	return ps
}

func checkProduct(r *Product) []string {
	r.Code, r.AlternativeCode = strings.TrimSpace(r.Code), strings.TrimSpace(r.AlternativeCode)
	r.Classification, r.CAID = strings.ToUpper(strings.TrimSpace(r.Classification)), strings.TrimSpace(r.CAID)
	var ps []string
	if r.Code == "" {
		ps = append(ps, "code: is required")
	}
	if r.Classification == "" {
		ps = append(ps, "classification: is required")
	}
	if r.Classification == provisioning.ClassificationService && r.CAID == "" {
		ps = append(ps, "ca_id: is required for a SERVICE")
	}
	return ps
}

// ReadKnown returns the CA ids of the smartcards, STBs and services of the reference
// directory dir: what a CAS gateway knows. Missing files give empty lists; a bad row
// is an error, as the gateway's knowledge must not silently differ from the files.
func ReadKnown(dir string) (smartcards, stbs, products []string, err error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		return nil, nil, nil, fmt.Errorf("reference directory: %w", err)
	}
	collect := func(file string, out *[]string) error {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		var bad []RowError
		var err error
		if file == ProductsFile {
			bad, err = readRows(path, checkProduct, func(_ int, p *Product) error {
				if p.Classification == provisioning.ClassificationService {
					*out = append(*out, p.CAID)
				}
				return nil
			})
		} else {
			bad, err = readRows(path, checkItem, func(_ int, it *Item) error {
				*out = append(*out, it.CAID)
				return nil
			})
		}
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			if len(bad) > 1 {
				return fmt.Errorf("%w (and %d more bad rows)", bad[0], len(bad)-1)
			}
			return bad[0]
		}
		return nil
	}
	if err := collect(SmartcardsFile, &smartcards); err != nil {
		return nil, nil, nil, err
	}
	if err := collect(STBsFile, &stbs); err != nil {
		return nil, nil, nil, err
	}
	if err := collect(ProductsFile, &products); err != nil {
		return nil, nil, nil, err
	}
	return smartcards, stbs, products, nil
}

func sortRowErrors(bad []RowError) {
	slices.SortStableFunc(bad, func(a, b RowError) int { return a.Line - b.Line })
}
