package ops

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/provisioner/provisioner/internal/duration"
	"github.com/provisioner/provisioner/provisioning"
)

// Filter selects requests. Zero fields select everything; lists match any of their
// values.
type Filter struct {
	States     []string // life cycle states
	Types      []string
	Priorities []string
	ErrorCodes []string
	// Smartcard: its CA id or its serial number.
	Smartcard string
	// Subscription: its number.
	Subscription string
	// File: the import file's id, its recorded name, or the name it was dropped
	// under (the inbox stamps the claim time into the recorded name).
	File                         string
	CreatedSince, CreatedUntil   time.Time // since: inclusive; until: exclusive
	ExecutedSince, ExecutedUntil time.Time
	// Number selects one request (0: any).
	Number int64
	// ReferenceNumber: the gateway's reference number, exactly.
	ReferenceNumber string
	// ID selects one request by its id (0: any).
	ID int64
	// After selects the numbers after it only (0: any): keyset paging, as the
	// console's Requests page turns its pages, which costs the same on page 1,000 as
	// on page 1 (an Offset reads and skips every row before it). Given omits it: it
	// is a position, not a filter.
	After int64
	// Newest lists newest first (descending number, the order of creation); Before
	// then keeps the numbers before it (0: any), as After does the other way.
	Newest bool
	Before int64
	// BySettlement lists in the order of settlement: by executed_date, then number
	// (oldest first, or newest first with Newest). Only settled requests have an
	// executed_date: the PENDING ones are left out (and not counted). The keyset
	// position is then the pair (At, After), or (At, Before) newest first: the
	// executed_date and number of the last row shown. Not a filter: Empty and Given
	// ignore it.
	BySettlement bool
	At           time.Time
	// Limit caps the rows returned (0: no cap); Offset skips as many first (paging:
	// the Web API's list). Count ignores both.
	Limit  int
	Offset int64
	// NoNames leaves the names a request refers to "" (Request.Subscription,
	// SmartcardSerial, STBSerial, SourceFile), and their look-ups out: the Web API
	// does not show them. Not a filter: Empty and Count ignore it.
	NoNames bool
}

// Empty reports whether f selects every request.
func (f Filter) Empty() bool {
	return len(f.States) == 0 && len(f.Types) == 0 && len(f.Priorities) == 0 && len(f.ErrorCodes) == 0 &&
		f.Smartcard == "" && f.Subscription == "" && f.File == "" && f.CreatedSince.IsZero() &&
		f.CreatedUntil.IsZero() && f.ExecutedSince.IsZero() && f.ExecutedUntil.IsZero() && f.Number == 0 &&
		f.ReferenceNumber == "" && f.ID == 0
}

// ParseStates reads a comma-separated list of life cycle states, case-insensitive.
func ParseStates(s string) ([]string, error) {
	return parseEnum(s, []string{string(provisioning.Pending), string(provisioning.Completed), string(provisioning.Rejected)})
}

// ParseTypes reads a comma-separated list of request types, case-insensitive.
func ParseTypes(s string) ([]string, error) {
	all := make([]string, len(provisioning.Types))
	for i, t := range provisioning.Types {
		all[i] = string(t)
	}
	return parseEnum(s, all)
}

// ParsePriorities reads a comma-separated list of priorities, case-insensitive.
func ParsePriorities(s string) ([]string, error) {
	return parseEnum(s, []string{string(provisioning.Regular), string(provisioning.Express)})
}

var errorCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// ParseErrorCodes reads a comma-separated list of error codes (E_NOT_PAIRED,
// E_MAX_ATTEMPTS, HTTP_503...), case-insensitive.
func ParseErrorCodes(s string) ([]string, error) {
	codes := splitList(s)
	for _, c := range codes {
		if !errorCodeRE.MatchString(c) {
			return nil, fmt.Errorf("%q is not an error code (capitals, digits and _, such as E_NOT_PAIRED)", c)
		}
	}
	return codes, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.ToUpper(strings.TrimSpace(v)); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func parseEnum(s string, allowed []string) ([]string, error) {
	vals := splitList(s)
	if len(vals) == 0 {
		return nil, fmt.Errorf("%q: give at least one of %s", s, strings.Join(allowed, ", "))
	}
	for _, v := range vals {
		if !slices.Contains(allowed, v) {
			return nil, fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}
	return vals, nil
}

// ParseTime reads a point in time for the since/until filters: RFC 3339
// (2026-11-29T02:15:00Z), a date and time read as UTC (2026-11-29 02:15:00), a date
// (2026-11-29, midnight UTC), or an age before now as the configuration writes
// durations (internal/duration: 90m, 36h, 7d, a day being 24 hours).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := duration.Parse(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give 2026-11-29T02:15:00Z, 2026-11-29 02:15:00 (UTC), 2026-11-29, or an age such as 90m, 36h, 7d", s)
}

// stampedPattern is the LIKE pattern of the names the inbox records for a file
// dropped as name (importer: NAME.20261129T021500.123456Z.csv).
func stampedPattern(name string) string {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	ext := filepath.Ext(name)
	return esc.Replace(strings.TrimSuffix(name, ext)) + ".________T______.______Z" + esc.Replace(ext)
}

// Given is the filter's non-zero fields by name, for the audit trail.
func (f Filter) Given() map[string]any {
	m := map[string]any{}
	lists := map[string][]string{"states": f.States, "types": f.Types, "priorities": f.Priorities, "error_codes": f.ErrorCodes}
	for k, v := range lists {
		if len(v) > 0 {
			m[k] = v
		}
	}
	strs := map[string]string{"smartcard": f.Smartcard, "subscription": f.Subscription, "file": f.File, "reference_number": f.ReferenceNumber}
	for k, v := range strs {
		if v != "" {
			m[k] = v
		}
	}
	times := map[string]time.Time{"created_since": f.CreatedSince, "created_until": f.CreatedUntil,
		"executed_since": f.ExecutedSince, "executed_until": f.ExecutedUntil}
	for k, v := range times {
		if !v.IsZero() {
			m[k] = v.UTC()
		}
	}
	if f.Number != 0 {
		m["number"] = f.Number
	}
	if f.ID != 0 {
		m["id"] = f.ID
	}
	return m
}

// Sorts are the orders a list of requests can be asked for, as `requests list
// --sort` and the console's Requests page name them: number order oldest or newest
// first, and settlement order (executed_date, then number) oldest or newest first.
var Sorts = []string{"number", "newest", "executed", "executed-newest"}

// SetSort sets f's order from its name, one of Sorts. "" is number order, but by
// settlement time when a settlement range filters (ExecutedSince or ExecutedUntil,
// set before): the range lists the same requests either way (none PENDING), and
// only in settlement order does a page read its rows alone, through
// provisioning_requests_executed, where number order sorts every request of the
// range (a request may settle long after its creation: no number bounds it).
// Settlement order with PENDING alone is an error: they have no settlement time.
func (f *Filter) SetSort(name string) error {
	switch name = strings.ToLower(strings.TrimSpace(name)); name {
	case "":
		f.BySettlement = !f.ExecutedSince.IsZero() || !f.ExecutedUntil.IsZero()
		return nil
	case "number", "newest", "executed", "executed-newest":
		f.Newest = strings.HasSuffix(name, "newest")
		f.BySettlement = strings.HasPrefix(name, "executed")
	default:
		return fmt.Errorf("%q: give %s", name, strings.Join(Sorts, ", "))
	}
	if f.BySettlement && slices.Equal(f.States, []string{string(provisioning.Pending)}) {
		return fmt.Errorf("%q lists settled requests only, by their settlement time: PENDING ones have none", name)
	}
	return nil
}
