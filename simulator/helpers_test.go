package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

const (
	testToken = "s3cret-token"
	testDest  = "CRM01"
)

// testKnown: SC1..SC4 active, SCD disabled (through Faults.DisabledSmartcards
// in testConfig), three STBs, three products.
var testKnown = Known{
	Smartcards: []string{"SC1", "SC2", "SC3", "SC4", "SCD"},
	STBs:       []string{"STB1", "STB2", "STB3"},
	Products:   []string{"P1", "P2", "P3"},
}

func testConfig() Config {
	return Config{Token: testToken, DestinationID: testDest, Seed: 1,
		Faults: Faults{DisabledSmartcards: []string{"SCD"}}}
}

// gw is a simulator behind a real HTTP server and a client of its own.
type gw struct {
	t       *testing.T
	sim     *Simulator
	srv     *httptest.Server
	hc      *http.Client
	batches int
}

func start(t *testing.T, cfg Config, known Known) *gw {
	t.Helper()
	sim := New(cfg, known)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // runs first: no stall holds srv.Close
	// A transport of its own per test, so that a dropped or stalled
	// connection of one test cannot touch another.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &gw{t: t, sim: sim, srv: srv, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func startDefault(t *testing.T) *gw { return start(t, testConfig(), testKnown) }

type answer struct {
	status int
	header http.Header
	body   []byte
}

// request sends one call with the given headers (nil: the right ones) and
// returns the answer or the transport error.
func (g *gw) request(hc *http.Client, method, path string, body []byte, hdr map[string]string) (answer, error) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if hdr == nil {
		hdr = map[string]string{
			casapi.HeaderAuthorization: casapi.BearerPrefix + testToken,
			casapi.HeaderDestinationID: testDest,
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// call is request with the gateway's own client that must get an answer.
func (g *gw) call(method, path string, body []byte) answer {
	g.t.Helper()
	a, err := g.request(g.hc, method, path, body, nil)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (g *gw) nextBatch(cmds ...casapi.Command) casapi.Batch {
	g.batches++
	return casapi.Batch{BatchID: fmt.Sprintf("b%d", g.batches), Commands: cmds}
}

// send posts cmds as one batch, requires 200 with one result per command in
// order, and returns the results.
func (g *gw) send(cmds ...casapi.Command) []casapi.Result {
	g.t.Helper()
	b := g.nextBatch(cmds...)
	a := g.call(http.MethodPost, casapi.PathBatches, mustJSON(g.t, b))
	return g.results(a, b)
}

func (g *gw) results(a answer, b casapi.Batch) []casapi.Result {
	g.t.Helper()
	if a.status != http.StatusOK {
		g.t.Fatalf("POST batch: status %d, body %s", a.status, a.body)
	}
	var res casapi.BatchResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		g.t.Fatalf("POST batch: %v in %s", err, a.body)
	}
	if res.BatchID != b.BatchID || len(res.Results) != len(b.Commands) {
		g.t.Fatalf("POST batch: batch_id %q with %d results, want %q with %d", res.BatchID, len(res.Results), b.BatchID, len(b.Commands))
	}
	for i, r := range res.Results {
		if r.CommandID != b.Commands[i].CommandID {
			g.t.Fatalf("result %d is for %q, want %q", i, r.CommandID, b.Commands[i].CommandID)
		}
	}
	return res.Results
}

// state reads one card over GET /v1/smartcards/{id}.
func (g *gw) state(id string) casapi.SmartcardState {
	g.t.Helper()
	a := g.call(http.MethodGet, casapi.PathSmartcards+id, nil)
	if a.status != http.StatusOK {
		g.t.Fatalf("GET %s: status %d, body %s", id, a.status, a.body)
	}
	var st casapi.SmartcardState
	if err := json.Unmarshal(a.body, &st); err != nil {
		g.t.Fatal(err)
	}
	return st
}

func ref(n int) string { return fmt.Sprintf("GW-%08d", n) }

// Command builders keep the tables short.
func add(id, sc string, p ...string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeAddProducts, Smartcard: sc, Products: p}
}
func cancel(id, sc string, p ...string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeCancelProducts, Smartcard: sc, Products: p}
}
func pair(id, sc, stb string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypePair, Smartcard: sc, STB: stb}
}
func unpair(id, sc string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeUnpair, Smartcard: sc}
}
func resetPIN(id, sc string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeResetPIN, Smartcard: sc}
}
func setPIN(id, sc, pin string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeSetPIN, Smartcard: sc, PIN: pin}
}
func resetCard(id, sc string) casapi.Command {
	return casapi.Command{CommandID: id, Type: casapi.TypeResetSmartcard, Smartcard: sc}
}

func completed(id string, n int) casapi.Result {
	return casapi.Result{CommandID: id, Status: casapi.StatusCompleted, Reference: ref(n)}
}
func rejected(id string, n int, code, desc string) casapi.Result {
	return casapi.Result{CommandID: id, Status: casapi.StatusRejected, Reference: ref(n), ErrorCode: code, ErrorDescription: desc}
}
func replayed(r casapi.Result) casapi.Result { r.Replayed = true; return r }

var busy = func(id string) casapi.Result {
	return casapi.Result{CommandID: id, Status: casapi.StatusRetry, ErrorCode: casapi.ErrCodeBusy, ErrorDescription: "smartcard is busy, send again later"}
}

func fresh(sc string) casapi.SmartcardState {
	return casapi.SmartcardState{Smartcard: sc, Status: casapi.SmartcardActive, Products: []string{}, PINIsDefault: true}
}
