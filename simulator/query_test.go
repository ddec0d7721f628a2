package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/reference"
)

// TestQuery: POST /v1/smartcards/query as the interface page says: one entry per
// known card in the order asked, products sorted, stb null when unpaired, the unknown
// ids apart; and the simulator's drift hook changes what it answers.
func TestQuery(t *testing.T) {
	g := startDefault(t)
	g.send(casapi.Command{CommandID: "1", Type: casapi.TypeAddProducts, Smartcard: "SC2", Products: []string{"P3", "P1"}},
		casapi.Command{CommandID: "2", Type: casapi.TypePair, Smartcard: "SC2", STB: "STB1"})
	a := g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC2", "NOPE", "SCD", "SC1"]}`))
	want := `{"smartcards":[` +
		`{"smartcard":"SC2","status":"ACTIVE","products":["P1","P3"],"stb":"STB1","pin_is_default":true},` +
		`{"smartcard":"SCD","status":"DISABLED","products":[],"stb":null,"pin_is_default":true},` +
		`{"smartcard":"SC1","status":"ACTIVE","products":[],"stb":null,"pin_is_default":true}],` +
		`"unknown":["NOPE"]}` + "\n"
	if a.status != http.StatusOK || string(a.body) != want {
		t.Errorf("%d %s\nwant %s", a.status, a.body, want)
	}

	// Behind the provisioner's back: over HTTP, as a test in another process would.
	a = g.call(http.MethodPost, "/sim/drift/SC2", []byte(`{"Remove": ["P1"], "Add": ["P2"], "unpair": true}`))
	if a.status != http.StatusNoContent {
		t.Fatalf("drift: %d %s", a.status, a.body)
	}
	if err := g.sim.MakeDrift("SC1", Drift{STB: "STB1"}); err != nil {
		t.Fatal(err)
	}
	a = g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1", "SC2"]}`))
	want = `{"smartcards":[` +
		`{"smartcard":"SC1","status":"ACTIVE","products":[],"stb":"STB1","pin_is_default":true},` +
		`{"smartcard":"SC2","status":"ACTIVE","products":["P2","P3"],"stb":null,"pin_is_default":true}],` +
		`"unknown":[]}` + "\n"
	if string(a.body) != want {
		t.Errorf("after drift: %s\nwant %s", a.body, want)
	}
	if log := g.sim.AppliedLog(); len(log) != 2 {
		t.Errorf("drift went through the applied log: %v", log)
	}
	for _, d := range []Drift{{Add: []string{"P9"}}, {STB: "STB9"}} {
		if err := g.sim.MakeDrift("SC1", d); err == nil {
			t.Errorf("drift %+v: no error", d)
		}
	}
	if err := g.sim.MakeDrift("SC9", Drift{}); err == nil {
		t.Error("drift of an unknown card: no error")
	}
}

// TestQueryRefused: every breach of the query's rules, and the faults it shares with
// batches.
func TestQueryRefused(t *testing.T) {
	many := make([]string, casapi.MaxQuery+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"C%d"`, i)
	}
	g := startDefault(t)
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"smartcards": []}`, 400, "must hold 1 to 500 CA ids"},
		{`{}`, 400, "must hold 1 to 500 CA ids"},
		{`{"smartcards": ["SC1", "SC1"]}`, 400, "smartcards[1]: SC1 is also smartcards[0]"},
		{`{"smartcards": ["SC 1"]}`, 400, `character ' ' not allowed`},
		{`{"smartcards": [""]}`, 400, "must be 1 to 64 characters"},
		{`{"smartcards": "SC1"}`, 400, "E_BAD_REQUEST"},
		{`{"smartcards": ["SC1"], "extra": 1}`, 400, "unknown field"},
		{`{"smartcards": [` + strings.Join(many, ",") + `]}`, 413, "at most 500"},
	} {
		a := g.call(http.MethodPost, casapi.PathQuery, []byte(tc.body))
		if a.status != tc.status || !strings.Contains(string(a.body), tc.want) {
			t.Errorf("%.60s: %d %s, want %d with %q", tc.body, a.status, a.body, tc.status, tc.want)
		}
	}
	a, err := g.request(g.hc, http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1"]}`), map[string]string{casapi.HeaderDestinationID: testDest})
	if err != nil || a.status != http.StatusUnauthorized {
		t.Errorf("no token: %d %v", a.status, err)
	}

	cfg := testConfig()
	cfg.Faults.Unavailable = 1
	g = start(t, cfg, testKnown)
	if a := g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1"]}`)); a.status != http.StatusServiceUnavailable || a.header.Get(casapi.HeaderRetryAfter) == "" {
		t.Errorf("unavailable: %d %v", a.status, a.header)
	}
	cfg = testConfig()
	cfg.Faults.RateLimit, cfg.Faults.RateBurst = 0.001, 1
	g = start(t, cfg, testKnown)
	g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1"]}`))
	if a := g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1"]}`)); a.status != http.StatusTooManyRequests {
		t.Errorf("rate limited: %d", a.status)
	}
	cfg = testConfig()
	cfg.NoQuery = true
	g = start(t, cfg, testKnown)
	if a := g.call(http.MethodPost, casapi.PathQuery, []byte(`{"smartcards": ["SC1"]}`)); a.status != http.StatusMethodNotAllowed {
		t.Errorf("1.0 gateway: %d", a.status)
	}
	if a := g.call(http.MethodGet, casapi.PathSmartcards+"SC1", nil); a.status != http.StatusOK {
		t.Errorf("1.0 gateway's GET: %d", a.status)
	}
}

// TestEntitledAndDriftFraction: cards start in their entitled state, and the drift
// fraction makes that share of them differ, the same cards for the same seed.
func TestEntitledAndDriftFraction(t *testing.T) {
	known := testKnown
	known.Entitled = nil
	for _, sc := range []string{"SC1", "SC2", "SC3", "SC4"} {
		known.Entitled = append(known.Entitled, entitled(sc, "P1", "P2"))
	}
	known.Entitled[0].STB = "STB1"
	cfg := testConfig()
	sim := New(cfg, known)
	if st, _ := sim.State("SC1"); fmt.Sprintf("%v %s", st.Products, st.STB) != "[P1 P2] STB1" {
		t.Errorf("SC1 starts as %+v", st)
	}
	cfg.Faults.DriftFraction = 0.5
	drifted := func() []string {
		sim := New(cfg, known)
		var out []string
		for _, e := range known.Entitled {
			st, _ := sim.State(e.Smartcard)
			if fmt.Sprintf("%v %s", st.Products, st.STB) != fmt.Sprintf("%v %s", e.Products, e.STB) {
				out = append(out, e.Smartcard)
			}
		}
		return out
	}
	first := drifted()
	if len(first) != 2 || fmt.Sprint(first) != fmt.Sprint(drifted()) {
		t.Errorf("drifted %v, then %v", first, drifted())
	}
	bad := known
	bad.Entitled = append(bad.Entitled[:0:0], entitled("SC9"))
	if err := cfg.Check(bad); err == nil {
		t.Error("an unknown entitled card passes Check")
	}
}

func entitled(card string, products ...string) reference.EntitledState {
	return reference.EntitledState{Smartcard: card, Products: products}
}
