package sql

import (
	"strings"
	"testing"
)

// TestCountMatchesFilter: count_requests.sql and count_requests_capped.sql count
// what filter_requests.sql lists (the Web API's total_results and its page, the
// console's capped count): each has filter_requests.sql's WHERE clause in place of
// its {{filter}}, every condition of it, and nothing of the page's order or limit.
func TestCountMatchesFilter(t *testing.T) {
	for name, q := range map[string]string{"count_requests.sql": CountRequests, "count_requests_capped.sql": CountRequestsCapped,
		"lever_dry_run.sql": LeverDryRun} {
		if strings.Contains(q, "WHERE {{filter}}") {
			t.Errorf("%s: {{filter}} left in place", name)
		}
		for _, cond := range []string{"r.life_cycle_state = ANY ($1::text[])", "r.id = $14::bigint", "r.number <= $17::bigint",
			"OR r.number > 0)"} {
			if strings.Count(q, cond) != 1 {
				t.Errorf("%s: %q appears %d times, want once", name, cond, strings.Count(q, cond))
			}
		}
		if strings.Contains(q, "OFFSET $19") || strings.Contains(q, "$20::boolean") {
			t.Errorf("%s: holds the page's limit or joins:\n%s", name, q)
		}
	}
}

// TestInsertRequestsReturnsFilterColumns: insert_requests.sql returns each request it
// creates with its key and filter_requests.sql's columns, which ops.ScanKeyed reads
// as ops.List does: the same names in the same order.
func TestInsertRequestsReturnsFilterColumns(t *testing.T) {
	names := func(name, list string) []string {
		var out []string
		depth, start := 0, 0
		item := func(s string) {
			f := strings.Fields(s)
			last := f[len(f)-1]
			if i := strings.LastIndexByte(last, '.'); i >= 0 {
				last = last[i+1:]
			}
			out = append(out, last)
		}
		for i, r := range list {
			switch r {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 0 {
					item(list[start:i])
					start = i + 1
				}
			}
		}
		item(list[start:])
		if len(out) < 10 {
			t.Fatalf("%s: %d columns: %v", name, len(out), out)
		}
		return out
	}
	between := func(name, q, from, to string) string {
		i := strings.Index(q, from)
		if i < 0 {
			t.Fatalf("%s: no %q", name, from)
		}
		q = q[i+len(from):]
		if to == "" {
			return q
		}
		j := strings.Index(q, to)
		if j < 0 {
			t.Fatalf("%s: no %q after %q", name, to, from)
		}
		return q[:j]
	}
	filter := names("filter_requests.sql", between("filter_requests.sql", FilterRequests, "\nSELECT ", "\nFROM ("))
	insert := names("insert_requests.sql", between("insert_requests.sql", InsertRequests(1), "\nSELECT v.key,", "\nFROM r JOIN v"))
	if strings.Join(filter, ",") != strings.Join(insert, ",") {
		t.Errorf("the columns differ:\n--- filter_requests.sql\n%v\n--- insert_requests.sql\n%v", filter, insert)
	}
}

// TestFilterRequestsExecuted: the settlement orders are filter_requests.sql with its
// number position and order replaced by (executed_date, number), both ways, and
// nothing else: the same filter, so the same count.
func TestFilterRequestsExecuted(t *testing.T) {
	for _, c := range []struct {
		name, q, cmp, order string
	}{
		{"oldest first", FilterRequestsExecuted, ">", "ORDER BY r.executed_date, r.number"},
		{"newest first", FilterRequestsExecutedNewest, "<", "ORDER BY r.executed_date DESC, r.number DESC"},
	} {
		if want := "(r.executed_date, r.number) " + c.cmp + " ($21::timestamptz, $15::bigint)"; !strings.Contains(c.q, want) {
			t.Errorf("%s: no %q", c.name, want)
		}
		if n := strings.Count(c.q, c.order+"\n"); n != 2 {
			t.Errorf("%s: %q %d times, want 2 (the page's and the rows')", c.name, c.order, n)
		}
		if !strings.Contains(c.q, "AND r.executed_date IS NOT NULL") || strings.Contains(c.q, "r.number + 0 END") {
			t.Errorf("%s: not the settled requests alone in the index's order:\n%s", c.name, c.q)
		}
		// The WHERE clause is the filter's but for its position.
		where := func(q string) string {
			w := q[strings.Index(q, "WHERE ("):]
			w = w[:strings.Index(w, "ORDER BY")]
			var keep []string
			for _, l := range strings.Split(w, "\n") {
				if !strings.Contains(l, "$15::bigint") && !strings.Contains(l, "IS NOT NULL\n") && strings.TrimSpace(l) != "AND r.executed_date IS NOT NULL" {
					keep = append(keep, strings.TrimSpace(l))
				}
			}
			return strings.Join(keep, " ")
		}
		if a, b := where(c.q), where(FilterRequests); a != b {
			t.Errorf("%s: the WHERE clause differs:\n%s\n%s", c.name, a, b)
		}
	}
}
