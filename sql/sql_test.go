package sql

import (
	"strings"
	"testing"
)

// TestCountMatchesFilter: count_requests.sql counts what filter_requests.sql lists
// (the Web API's total_results and its page): their WHERE clauses are one text, but
// for the indentation.
func TestCountMatchesFilter(t *testing.T) {
	where := func(name, q, end string) string {
		i := strings.Index(q, "WHERE (")
		if i < 0 {
			t.Fatalf("%s: no WHERE", name)
		}
		w := q[i:]
		if end != "" {
			j := strings.Index(w, end)
			if j < 0 {
				t.Fatalf("%s: no %q after WHERE", name, end)
			}
			w = w[:j]
		}
		return strings.Join(strings.Fields(w), " ")
	}
	filter, count := where("filter_requests.sql", FilterRequests, "ORDER BY"), where("count_requests.sql", CountRequests, "")
	if filter != count {
		t.Errorf("the WHERE clauses differ:\n--- filter_requests.sql\n%s\n--- count_requests.sql\n%s", filter, count)
	}
	if !strings.Contains(filter, "$15::bigint") {
		t.Errorf("the WHERE clause lacks the id filter: %s", filter)
	}
}
