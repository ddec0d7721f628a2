package ops

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// TestListByCardAndSubscription: a card's and a subscription's requests come from
// two indexes each (the settled ones, the others: migration 000028); the list
// merges them in number order, pages them, and Count and CountUpTo agree with it,
// whatever the mix of states.
func TestListByCardAndSubscription(t *testing.T) {
	db, _ := pgtest.New(t)
	var s1, s2 int64
	if err := db.QueryRow(`INSERT INTO subscriptions (number, state) VALUES ('S1', 'ACTIVE'), ('S2', 'ACTIVE') RETURNING id`).Scan(&s1); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT id FROM subscriptions WHERE number = 'S2'`).Scan(&s2); err != nil {
		t.Fatal(err)
	}
	// Twelve requests, numbers 1 to 12: cards C1 and C2 of S1 and C3 of S2 in turn,
	// the states in a cycle of four, so that settled and waiting ones interleave.
	states := []string{"COMPLETED", "PENDING", "REJECTED", "PENDING"}
	cards := []string{"C1", "C2", "C3"}
	subs := map[string]int64{"C1": s1, "C2": s1, "C3": s2}
	var opts []pgtest.RequestOpts
	type req struct {
		number      int64
		card, state string
	}
	var all []req
	for i := int64(1); i <= 12; i++ {
		r := req{i, cards[(i-1)%3], states[(i-1)%4]}
		all = append(all, r)
		opts = append(opts, pgtest.RequestOpts{Number: i, State: r.state, Smartcard: r.card, SubscriptionID: subs[r.card]})
	}
	pgtest.Requests(t, db, opts...)
	want := func(keep func(req) bool) []int64 {
		var out []int64
		for _, r := range all {
			if keep(r) {
				out = append(out, r.number)
			}
		}
		return out
	}
	onCard := func(c string) func(req) bool { return func(r req) bool { return r.card == c } }
	onSub := func(r req) bool { return subs[r.card] == s1 }
	ctx := context.Background()
	cases := []struct {
		name  string
		f     Filter
		count []int64 // what the filter selects, limit aside (nil: not counted, a position given)
		want  []int64 // the page
	}{
		{"card", Filter{Smartcard: "C1"}, want(onCard("C1")), want(onCard("C1"))},
		{"card, a page", Filter{Smartcard: "C1", Limit: 2, Offset: 1}, want(onCard("C1")), want(onCard("C1"))[1:3]},
		{"card, after", Filter{Smartcard: "C2", After: 2, Limit: 2}, nil, []int64{5, 8}},
		{"card, newest", Filter{Smartcard: "C3", Newest: true, Limit: 3}, want(onCard("C3")), []int64{12, 9, 6}},
		{"card, PENDING", Filter{Smartcard: "C1", States: []string{"PENDING"}},
			want(func(r req) bool { return r.card == "C1" && r.state == "PENDING" }), []int64{4, 10}},
		{"card, settled", Filter{Smartcard: "C2", States: []string{"COMPLETED", "REJECTED"}},
			want(func(r req) bool { return r.card == "C2" && r.state != "PENDING" }), []int64{5, 11}},
		{"subscription", Filter{Subscription: "S1"}, want(onSub), want(onSub)},
		{"subscription, newest page", Filter{Subscription: "S1", Newest: true, Before: 11, Limit: 3}, nil, []int64{10, 8, 7}},
		{"subscription, PENDING", Filter{Subscription: "S1", States: []string{"PENDING"}},
			want(func(r req) bool { return onSub(r) && r.state == "PENDING" }), []int64{2, 4, 8, 10}},
		{"subscription and card", Filter{Subscription: "S2", Smartcard: "C3"}, want(onCard("C3")), want(onCard("C3"))},
		{"subscription and another's card", Filter{Subscription: "S2", Smartcard: "C1"}, nil, nil},
	}
	for _, c := range cases {
		if got := listNumbers(t, db, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: rows %v, want %v", c.name, got, c.want)
		}
		if c.f.After != 0 || c.f.Before != 0 {
			continue
		}
		n, err := Count(ctx, db, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		capped, err := CountUpTo(ctx, db, c.f, 100)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != int64(len(c.count)) || capped != n {
			t.Errorf("%s: Count %d, CountUpTo %d; want %d", c.name, n, capped, len(c.count))
		}
	}
}

// listNumbers is the numbers List returns for f.
func listNumbers(t *testing.T, db *store.DB, f Filter) []int64 {
	t.Helper()
	rows, err := List(context.Background(), db, f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	var got []int64
	for _, r := range rows {
		got = append(got, r.Number)
	}
	return got
}

// TestByCardPlansOnStaleStatistics: on statistics that are wrong about the states, a
// card's or a subscription's list reads the two indexes of that card or subscription
// (settled, not settled), and no index the planner costs at nothing there while its
// whole walk reads thousands of rows: an index of every PENDING request (the
// claim's, the card queue's, pending_number's) or the other filter's indexes. Both
// ways: statistics that know no PENDING request (taken before an import), and
// statistics that know nothing else (taken after an import, before its processing
// run settled it).
func TestByCardPlansOnStaleStatistics(t *testing.T) {
	// 200 subscriptions of one card each, 4,000 requests analysed in one state,
	// then as many in the other state that the statistics do not know.
	const subs = `INSERT INTO subscriptions (number, state) SELECT 'S' || i, 'ACTIVE' FROM generate_series(1, 200) i;
		INSERT INTO installed_items (kind, serial_number, ca_id, subscription_id)
		SELECT 'SMARTCARD', 'SN' || substr(number, 2), 'C' || substr(number, 2), id FROM subscriptions`
	const insert = `INSERT INTO provisioning_requests (type, life_cycle_state, executed_date, smartcard_ca_id, subscription_id)
		 SELECT 'RESET_PIN', $1, CASE WHEN $1 <> 'PENDING' THEN now() END, 'C' || (1 + i % 200), s.id
		 FROM generate_series(1, 4000) i JOIN subscriptions s ON s.number = 'S' || (1 + i % 200)`
	card := []string{"provisioning_requests_smartcard_settled", "provisioning_requests_smartcard_unsettled"}
	sub := []string{"provisioning_requests_subscription_settled", "provisioning_requests_subscription_unsettled"}
	pending := []string{"provisioning_requests_claim", "provisioning_requests_card_queue", "provisioning_requests_pending_number"}
	reads := []struct {
		name      string
		f         Filter
		uses, not []string
	}{
		{"card", Filter{Smartcard: "C7", Limit: 50}, card, append(sub, pending...)},
		{"card by serial number", Filter{Smartcard: "SN7", Limit: 50}, card, append(sub, pending...)},
		{"card, newest", Filter{Smartcard: "C7", Newest: true, Limit: 50}, card, append(sub, pending...)},
		{"subscription", Filter{Subscription: "S7", Limit: 50}, sub, append(card, pending...)},
		{"subscription, after", Filter{Subscription: "S7", After: 100, Limit: 50}, sub, append(card, pending...)},
	}
	ctx := context.Background()
	for _, analysed := range []string{"COMPLETED", "PENDING"} {
		db, _ := pgtest.New(t)
		other := map[string]string{"COMPLETED": "PENDING", "PENDING": "COMPLETED"}[analysed]
		for _, q := range []struct {
			sql  string
			args []any
		}{{subs, nil}, {insert, []any{analysed}}, {"ANALYZE provisioning_requests", nil}, {insert, []any{other}}} {
			if _, err := db.Exec(q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		for _, c := range reads {
			name := c.name + ", statistics of " + analysed + " requests alone"
			args, none, err := c.f.resolve(ctx, db)
			if err != nil || none {
				t.Fatalf("%s: resolve: %v (none %v)", name, err, none)
			}
			query, args := c.f.listQuery(args)
			var lines []string
			if err := db.SelectContext(ctx, &lines, "EXPLAIN "+query, args...); err != nil {
				t.Fatalf("%s: explain: %v", name, err)
			}
			plan := strings.Join(lines, "\n")
			for _, ix := range c.uses {
				if !strings.Contains(plan, ix+" ") {
					t.Errorf("%s: the plan does not read %s:\n%s", name, ix, plan)
				}
			}
			for _, ix := range c.not {
				if strings.Contains(plan, ix+" ") {
					t.Errorf("%s: the plan reads %s:\n%s", name, ix, plan)
				}
			}
		}
	}
}
