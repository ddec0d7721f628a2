package reference_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/store"
)

const samples = "../samples/reference"

// tableOf is the table, and kind for installed items, that each reference file loads.
var tableOf = map[string]string{
	reference.SubscriptionsFile: "subscriptions",
	reference.SmartcardsFile:    "installed_items WHERE kind = 'SMARTCARD'",
	reference.STBsFile:          "installed_items WHERE kind = 'STB'",
	reference.ProductsFile:      "products",
	reference.EntitlementsFile:  "entitlements",
}

func count(t *testing.T, db *store.DB, file string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM "+tableOf[file]); err != nil {
		t.Fatal(err)
	}
	return n
}

// dump renders the reference tables of db, one row a line, sorted, without ids and
// times; values quoted as Go strings, NULL as -.
func dump(t *testing.T, db *store.DB) string {
	t.Helper()
	var b strings.Builder
	rows, err := db.Queryx(`
		SELECT 'subscription', number, NULL, NULL, state FROM subscriptions
		UNION ALL
		SELECT lower(i.kind), i.serial_number, i.alternative_code, i.ca_id, s.number
		FROM installed_items i LEFT JOIN subscriptions s ON s.id = i.subscription_id
		UNION ALL
		SELECT 'product', code, alternative_code, ca_id, classification FROM products
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var what, key string
		var alt, caID, last sql.NullString
		if err := rows.Scan(&what, &key, &alt, &caID, &last); err != nil {
			t.Fatal(err)
		}
		switch what {
		case "subscription":
			fmt.Fprintf(&b, "  subscription %q state=%s\n", key, val(last))
		case "product":
			fmt.Fprintf(&b, "  product %q alt=%s ca_id=%s classification=%s\n", key, val(alt), val(caID), val(last))
		default:
			fmt.Fprintf(&b, "  %s %q alt=%s ca_id=%s subscription=%s\n", what, key, val(alt), val(caID), val(last))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func val(s sql.NullString) string {
	if !s.Valid {
		return "-"
	}
	return strconv.Quote(s.String)
}

// report renders what Load returned and what the database then holds.
func report(t *testing.T, db *store.DB, res []reference.FileResult, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	} else {
		b.WriteString("error: none\n")
	}
	for _, r := range res {
		state := "loaded"
		if !r.Loaded {
			state = "NOT loaded"
		}
		fmt.Fprintf(&b, "%s: %s, good rows: %d\n", r.File, state, r.Rows)
		for _, e := range r.Bad {
			fmt.Fprintf(&b, "  %s:%d: %s\n", e.File, e.Line, e.Reason)
		}
	}
	b.WriteString("database:\n")
	b.WriteString(dump(t, db))
	return b.String()
}

func TestLoadSamples(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	res, err := reference.Load(ctx, db, samples)
	if err != nil {
		t.Fatal(err)
	}
	want := []reference.FileResult{
		{File: "subscriptions.csv", Rows: 7, Loaded: true},
		{File: "smartcards.csv", Rows: 8, Loaded: true},
		{File: "stbs.csv", Rows: 5, Loaded: true},
		{File: "products.csv", Rows: 6, Loaded: true},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("results:\n got %+v\nwant %+v", res, want)
	}
	for file, n := range map[string]int{reference.SubscriptionsFile: 7, reference.SmartcardsFile: 8, reference.STBsFile: 5, reference.ProductsFile: 6} {
		if got := count(t, db, file); got != n {
			t.Errorf("%s: %d rows in the database, want %d", file, got, n)
		}
	}

	type item struct {
		Kind         string  `db:"kind"`
		Alt          *string `db:"alternative_code"`
		CAID         string  `db:"ca_id"`
		Subscription *string `db:"subscription"`
	}
	str := func(s string) *string { return &s }
	for serial, want := range map[string]item{
		"SC0000000001": {Kind: "SMARTCARD", Alt: str("ALT-SC-1"), CAID: "1000000001", Subscription: str("S1001")},
		"SC0000000003": {Kind: "SMARTCARD", Alt: nil, CAID: "1000000003", Subscription: str("S1003")},
		"SC0000000099": {Kind: "SMARTCARD", Alt: nil, CAID: "1000000099", Subscription: nil},
		"STB-0004":     {Kind: "STB", Alt: nil, CAID: "7700000004", Subscription: str("S1004")},
		"STB-0099":     {Kind: "STB", Alt: nil, CAID: "7700000099", Subscription: nil},
	} {
		var got item
		err := db.Get(&got, `SELECT i.kind, i.alternative_code, i.ca_id, s.number AS subscription
			FROM installed_items i LEFT JOIN subscriptions s ON s.id = i.subscription_id WHERE i.serial_number = $1`, serial)
		if err != nil {
			t.Fatalf("%s: %v", serial, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", serial, show(got), show(want))
		}
	}

	type product struct {
		Alt            *string `db:"alternative_code"`
		Classification string  `db:"classification"`
		CAID           *string `db:"ca_id"`
	}
	for code, want := range map[string]product{
		"SPORTS":      {Alt: str("SPT"), Classification: "SERVICE", CAID: str("P-1001")},
		"NEWS":        {Alt: nil, Classification: "SERVICE", CAID: str("P-1004")},
		"DECODER-HD":  {Alt: nil, Classification: "HARDWARE", CAID: nil},
		"INSTALL-FEE": {Alt: nil, Classification: "FEE", CAID: nil},
	} {
		var got product
		if err := db.Get(&got, "SELECT alternative_code, classification, ca_id FROM products WHERE code = $1", code); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", code, show(got), show(want))
		}
	}

	var states []string
	if err := db.Select(&states, "SELECT number || '=' || state FROM subscriptions WHERE number IN ('S1001', 'S1007') ORDER BY number"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"S1001=ACTIVE", "S1007=SUSPENDED"}; !slices.Equal(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}

	testutil.Golden(t, "samples.golden", []byte(report(t, db, res, err)))
}

// show renders a struct of pointers with the values pointed to.
func show(v any) string {
	rv := reflect.ValueOf(v)
	var parts []string
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		s := fmt.Sprint(f.Interface())
		if f.Kind() == reflect.Pointer {
			s = "NULL"
			if !f.IsNil() {
				s = fmt.Sprintf("%q", f.Elem().Interface())
			}
		}
		parts = append(parts, rv.Type().Field(i).Name+"="+s)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// stamp is what an upsert that changes nothing must leave as it is.
type stamp struct {
	ID        int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// stamps returns the id and times of every reference row, by table and key.
func stamps(t *testing.T, db *store.DB) map[string]stamp {
	t.Helper()
	rows, err := db.Queryx(`
		SELECT 'subscription ' || number, id, created_at, updated_at FROM subscriptions
		UNION ALL SELECT 'item ' || serial_number, id, created_at, updated_at FROM installed_items
		UNION ALL SELECT 'product ' || code, id, created_at, updated_at FROM products`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]stamp{}
	for rows.Next() {
		var key string
		var s stamp
		if err := rows.Scan(&key, &s.ID, &s.CreatedAt, &s.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		out[key] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	first, err := reference.Load(ctx, db, samples)
	if err != nil {
		t.Fatal(err)
	}
	before, dumpBefore := stamps(t, db), dump(t, db)
	if len(before) != 26 {
		t.Fatalf("%d rows after the first load, want 26", len(before))
	}
	second, err := reference.Load(ctx, db, samples)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, first) {
		t.Errorf("second load:\n got %+v\nwant %+v", second, first)
	}
	if got := dump(t, db); got != dumpBefore {
		t.Errorf("contents changed:\n%s\nwas\n%s", got, dumpBefore)
	}
	after := stamps(t, db)
	if !reflect.DeepEqual(after, before) {
		for k, b := range before {
			if a := after[k]; a != b {
				t.Errorf("%s: %+v, was %+v", k, a, b)
			}
		}
		t.Errorf("%d rows after the second load, %d before", len(after), len(before))
	}
}

func TestLoadUpsertChanges(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	if _, err := reference.Load(ctx, db, samples); err != nil {
		t.Fatal(err)
	}
	before := stamps(t, db)
	res, err := reference.Load(ctx, db, "testdata/upsert_changed")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "upsert_changed.golden", []byte(report(t, db, res, err)))

	after := stamps(t, db)
	// The rows whose values the files change (or add); every other row, named in the
	// files with the same values or not named at all, must be left untouched.
	changed := []string{
		"subscription S1007", // SUSPENDED -> ACTIVE
		"item SC0000000001",  // S1001 -> S1002 (loaded before), ALT-SC-1 -> none
		"item SC0000000099",  // in stock -> S1008 (loaded in the same run)
		"item STB-0099",      // CA id 7700000099 -> 7700000199
		"product KIDS",       // no alternative code -> KDS
		"subscription S1008", // new
	}
	for key, b := range before {
		a, ok := after[key]
		switch {
		case !ok:
			t.Errorf("%s: gone", key)
		case slices.Contains(changed, key):
			if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.After(b.UpdatedAt) {
				t.Errorf("%s: %+v, was %+v: want the same row with a later updated_at", key, a, b)
			}
		case a != b:
			t.Errorf("%s: %+v, was %+v: want it untouched", key, a, b)
		}
	}
	if _, ok := before["subscription S1008"]; ok {
		t.Error("S1008 existed before")
	}
	if _, ok := after["subscription S1008"]; !ok {
		t.Error("S1008 not added")
	}
	if len(after) != len(before)+1 {
		t.Errorf("%d rows, want %d", len(after), len(before)+1)
	}

	var got []string
	if err := db.Select(&got, `SELECT i.serial_number || ' ' || coalesce(i.alternative_code, '-') || ' ' || i.ca_id || ' ' || coalesce(s.number, '-')
		FROM installed_items i LEFT JOIN subscriptions s ON s.id = i.subscription_id
		WHERE i.serial_number IN ('SC0000000001', 'SC0000000002', 'SC0000000099', 'STB-0099') ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SC0000000001 - 1000000001 S1002",
		"SC0000000002 ALT-SC-2 1000000002 S1002",
		"SC0000000099 - 1000000099 S1008",
		"STB-0099 - 7700000199 -",
	}
	if !slices.Equal(got, want) {
		t.Errorf("items:\n got %q\nwant %q", got, want)
	}
}

// TestLoadBadFiles loads directories with a bad file each (or several): Load must
// report every bad row with its file and physical line, load nothing of a bad file,
// and load the others. A file whose header is bad stops the whole load there: the
// files before it stay loaded, the ones after are not read.
func TestLoadBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir     string
		refused []string // files read, with bad rows, and not loaded
		stop    string   // the file whose error stops the load
	}{
		{dir: "missing_value", refused: []string{reference.SmartcardsFile, reference.ProductsFile}},
		{dir: "missing_value_cascade", refused: []string{reference.SubscriptionsFile, reference.SmartcardsFile}},
		{dir: "unknown_subscription", refused: []string{reference.SmartcardsFile}},
		{dir: "duplicate_key", refused: []string{reference.STBsFile, reference.ProductsFile}},
		{dir: "field_count", refused: []string{reference.SmartcardsFile}},
		{dir: "stray_quote", refused: []string{reference.ProductsFile}},
		{dir: "service_without_ca_id", refused: []string{reference.ProductsFile}},
		{dir: "multiline", refused: []string{reference.SmartcardsFile}},
		{dir: "unknown_column", stop: reference.STBsFile},
		{dir: "missing_column", stop: reference.SmartcardsFile},
		{dir: "empty_file", stop: reference.ProductsFile},
		{dir: "flexible_header"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			db, _ := pgtest.New(t)
			dir := filepath.Join("testdata", tt.dir)
			res, err := reference.Load(context.Background(), db, dir)
			if (err != nil) != (tt.stop != "") {
				t.Fatalf("error %v, want one: %v", err, tt.stop != "")
			}
			if err != nil && !strings.HasPrefix(err.Error(), "load "+tt.stop+": ") {
				t.Errorf("error %q does not name %s", err, tt.stop)
			}

			// Each file present is loaded whole, refused whole, or (after a stop) not read.
			byFile := map[string]reference.FileResult{}
			for _, r := range res {
				byFile[r.File] = r
			}
			stopped := false
			for _, file := range reference.Files {
				if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
					continue
				}
				stopped = stopped || file == tt.stop
				r, read := byFile[file]
				n := count(t, db, file)
				switch {
				case stopped:
					if read || n != 0 {
						t.Errorf("%s: after the stop, read %v with %d rows in the database", file, read, n)
					}
				case slices.Contains(tt.refused, file):
					if !read || r.Loaded || len(r.Bad) == 0 || n != 0 {
						t.Errorf("%s: read %v, loaded %v, %d bad rows, %d rows in the database: want it refused", file, read, r.Loaded, len(r.Bad), n)
					}
					for _, e := range r.Bad {
						if e.File != file {
							t.Errorf("%s: row error names %s", file, e.File)
						}
					}
					if !slices.IsSortedFunc(r.Bad, func(a, b reference.RowError) int { return a.Line - b.Line }) {
						t.Errorf("%s: bad rows out of line order: %v", file, r.Bad)
					}
				default:
					if !read || !r.Loaded || len(r.Bad) != 0 || n != r.Rows {
						t.Errorf("%s: read %v, loaded %v, %d bad rows, %d of %d rows in the database: want it loaded", file, read, r.Loaded, len(r.Bad), n, r.Rows)
					}
				}
			}
			testutil.Golden(t, tt.dir+".golden", []byte(report(t, db, res, err)))
		})
	}
}

// TestLoadRefusesDirectory checks the directories Load refuses before loading
// anything.
func TestLoadRefusesDirectory(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	onlyOther := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyOther, "README.txt"), []byte("reference files go here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"misnamed file", "testdata/stray_file",
			"reference directory testdata/stray_file: unknown file smartcard.csv (expected subscriptions.csv, smartcards.csv, stbs.csv, products.csv, entitlements.csv)"},
		{"empty directory", empty,
			"reference directory " + empty + " holds none of subscriptions.csv, smartcards.csv, stbs.csv, products.csv, entitlements.csv"},
		{"no CSV file", onlyOther,
			"reference directory " + onlyOther + " holds none of subscriptions.csv, smartcards.csv, stbs.csv, products.csv, entitlements.csv"},
		{"a file", samples + "/products.csv",
			"reference directory: " + samples + "/products.csv is not a directory"},
		{"missing", "testdata/no-such-directory",
			"reference directory: stat testdata/no-such-directory: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, _ := pgtest.New(t)
			res, err := reference.Load(context.Background(), db, tt.dir)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v\nwant %s", err, tt.want)
			}
			if res != nil {
				t.Errorf("results %+v, want none", res)
			}
			if d := dump(t, db); d != "" {
				t.Errorf("database not empty:\n%s", d)
			}
		})
	}
}

// TestLoadAcrossChunks loads files of more rows than one upsert statement takes: all
// of a good file loads, and a bad row after the first chunk still loads nothing.
func TestLoadAcrossChunks(t *testing.T) {
	t.Parallel()
	const n = 5000*2 + 7
	write := func(dir, file, header string, row func(i int) string) {
		var b strings.Builder
		b.WriteString(header + "\n")
		for i := 1; i <= n; i++ {
			b.WriteString(row(i) + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(dir, reference.SubscriptionsFile, "number,state", func(i int) string { return fmt.Sprintf("S%06d,ACTIVE", i) })
	write(dir, reference.SmartcardsFile, "serial_number,ca_id,subscription_number", func(i int) string {
		return fmt.Sprintf("SC%06d,%d,S%06d", i, 1_000_000+i, i)
	})
	// The STB on line n-2 names a subscription that does not exist; its chunk is the last.
	write(dir, reference.STBsFile, "serial_number,ca_id,subscription_number", func(i int) string {
		if i == n-3 {
			return fmt.Sprintf("STB%06d,%d,S999999", i, 7_000_000+i)
		}
		return fmt.Sprintf("STB%06d,%d,S%06d", i, 7_000_000+i, i)
	})
	// The product of line 5003 (in the second chunk) is a SERVICE without CA id.
	write(dir, reference.ProductsFile, "code,classification,ca_id", func(i int) string {
		if i == 5002 {
			return fmt.Sprintf("P%06d,SERVICE,", i)
		}
		return fmt.Sprintf("P%06d,SERVICE,CA-%d", i, i)
	})

	db, _ := pgtest.New(t)
	res, err := reference.Load(context.Background(), db, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []reference.FileResult{
		{File: "subscriptions.csv", Rows: n, Loaded: true},
		{File: "smartcards.csv", Rows: n, Loaded: true},
		{File: "stbs.csv", Rows: n, Bad: []reference.RowError{{File: "stbs.csv", Line: n - 2, Reason: "subscription_number: no subscription S999999"}}},
		{File: "products.csv", Rows: n - 1, Bad: []reference.RowError{{File: "products.csv", Line: 5003, Reason: "ca_id: is required for a SERVICE"}}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("results:\n got %+v\nwant %+v", res, want)
	}
	for file, want := range map[string]int{reference.SubscriptionsFile: n, reference.SmartcardsFile: n, reference.STBsFile: 0, reference.ProductsFile: 0} {
		if got := count(t, db, file); got != want {
			t.Errorf("%s: %d rows in the database, want %d", file, got, want)
		}
	}
	var linked int
	if err := db.Get(&linked, `SELECT count(*) FROM installed_items i JOIN subscriptions s ON s.id = i.subscription_id
		WHERE substr(i.serial_number, 3) = substr(s.number, 2)`); err != nil {
		t.Fatal(err)
	}
	if linked != n {
		t.Errorf("%d smartcards on their own subscription, want %d", linked, n)
	}
}

func TestReadKnown(t *testing.T) {
	t.Parallel()
	smartcards, stbs, products, err := reference.ReadKnown(samples)
	if err != nil {
		t.Fatal(err)
	}
	wantSmartcards := []string{"1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000006", "1000000007", "1000000099"}
	wantSTBs := []string{"7700000001", "7700000002", "7700000003", "7700000004", "7700000099"}
	wantProducts := []string{"P-1001", "P-1002", "P-1003", "P-1004"} // SERVICE only: not DECODER-HD nor INSTALL-FEE
	if !slices.Equal(smartcards, wantSmartcards) {
		t.Errorf("smartcards %q, want %q", smartcards, wantSmartcards)
	}
	if !slices.Equal(stbs, wantSTBs) {
		t.Errorf("STBs %q, want %q", stbs, wantSTBs)
	}
	if !slices.Equal(products, wantProducts) {
		t.Errorf("products %q, want %q", products, wantProducts)
	}
}

func TestReadKnownFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir                        string
		smartcards, stbs, products []string
		err                        string
	}{
		// Files are optional; values are trimmed; classification is case-insensitive.
		{dir: "testdata/flexible_header", smartcards: []string{"1001", "1002"}, stbs: []string{"7001", "7002"}, products: []string{"P-1"}},
		{dir: "testdata/stray_quote", products: nil, err: `products.csv:3: bare " in non-quoted-field (and 2 more bad rows)`},
		{dir: "testdata/missing_value", err: "smartcards.csv:3: ca_id: is required (and 2 more bad rows)"},
		{dir: "testdata/duplicate_key", smartcards: nil, err: "stbs.csv:4: serial number STB-1 is also on line 2 (and 2 more bad rows)"},
		{dir: "testdata/service_without_ca_id", err: "products.csv:3: ca_id: is required for a SERVICE (and 1 more bad rows)"},
		{dir: "testdata/missing_column", err: `smartcards.csv: header: missing column "ca_id"`},
		{dir: "testdata/unknown_column", err: `stbs.csv: header: unknown column "colour"`},
		{dir: "testdata/empty_file", err: "products.csv: no header: the file is empty"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			t.Parallel()
			smartcards, stbs, products, err := reference.ReadKnown(tt.dir)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("error %v\nwant %s", err, tt.err)
				}
				if smartcards != nil || stbs != nil || products != nil {
					t.Errorf("lists %q %q %q with an error", smartcards, stbs, products)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(smartcards, tt.smartcards) || !slices.Equal(stbs, tt.stbs) || !slices.Equal(products, tt.products) {
				t.Errorf("got %q %q %q\nwant %q %q %q", smartcards, stbs, products, tt.smartcards, tt.stbs, tt.products)
			}
		})
	}
}
