package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// fixedNow is the API's clock in tests: the scheduled date of a call that gives none.
// It is in the past, so that such a request is due at once.
var fixedNow = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

const (
	gatewayToken = "gw-secret-0a9f3c"
	destination  = "CRM01"
)

// gateway says what process_immediately finds behind the dispatcher.
type gateway int

const (
	noGateway   gateway = iota // no dispatcher configured
	simGateway                 // the simulator
	downGateway                // a gateway that refuses connections
)

// tenv is one test's API: a fresh database with the sample reference data, a token,
// the handler over a real HTTP server, and every log line of the session.
type tenv struct {
	t     *testing.T
	db    *store.DB
	url   string
	token string
	sim   *simulator.Simulator
	logs  *testutil.Buffer
	log   *logrus.Logger
	api   *api.Server
}

func setup(t *testing.T, gw gateway) *tenv {
	t.Helper()
	return setupWith(t, gw, nil)
}

// setupWith is setup with the API's options changed by opt. The tests of tokens
// present hundreds of bad ones from one address: the limiter of failed tokens is
// set out of their way unless opt sets it.
func setupWith(t *testing.T, gw gateway, opt func(*api.Options)) *tenv {
	t.Helper()
	ctx := context.Background()
	db, _ := pgtest.New(t)
	res, err := reference.Load(ctx, db, filepath.Join("..", "samples", "reference"))
	if err != nil {
		t.Fatalf("load reference: %v", err)
	}
	for _, r := range res {
		if !r.Loaded {
			t.Fatalf("reference %s not loaded: %v", r.File, r.Bad)
		}
	}
	token, err := api.CreateToken(ctx, db, "crm")
	if err != nil {
		t.Fatal(err)
	}
	e := &tenv{t: t, db: db, token: token, logs: &testutil.Buffer{}}
	log := logrus.New()
	log.SetOutput(e.logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetLevel(logrus.TraceLevel) // everything that could ever be logged

	var d *dispatcher.Dispatcher
	if gw != noGateway {
		var url string
		switch gw {
		case simGateway:
			cards, stbs, products, err := reference.ReadKnown(filepath.Join("..", "samples", "reference"))
			if err != nil {
				t.Fatal(err)
			}
			e.sim = simulator.New(simulator.Config{Token: gatewayToken, DestinationID: destination, Seed: 1},
				simulator.Known{Smartcards: cards, STBs: stbs, Products: products})
			srv := httptest.NewServer(e.sim)
			t.Cleanup(func() { e.sim.Close(); srv.Close() })
			url = srv.URL
		case downGateway:
			srv := httptest.NewServer(http.NotFoundHandler())
			url = srv.URL
			srv.Close() // nothing listens there any more: connections are refused
		}
		client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: url, Token: gatewayToken, DestinationID: destination, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if d, err = dispatcher.New(db, client, log, dispatcher.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	opts := api.Options{Dispatcher: d, Now: func() time.Time { return fixedNow }, AuthFailures: 1 << 20}
	if opt != nil {
		opt(&opts)
	}
	e.log = log
	e.api = api.New(db, log, opts)
	srv := httptest.NewServer(e.api.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// answer is a decoded envelope.
type answer struct {
	HTTP   int
	Status struct {
		Code        string `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	} `json:"status"`
	Data   json.RawMessage `json:"data"`
	Raw    []byte          `json:"-"`
	Header http.Header     `json:"-"`
}

// errors is the data of a refusal.
func (a answer) errors(t *testing.T) []problem {
	t.Helper()
	var d struct {
		Errors []problem `json:"errors"`
	}
	if err := json.Unmarshal(a.Data, &d); err != nil {
		t.Fatalf("errors of %s: %v", a.Raw, err)
	}
	return d.Errors
}

type problem struct {
	Parameter   string `json:"parameter"`
	Code        string `json:"code"`
	Description string `json:"description"`
}

func (a answer) view(t *testing.T) api.View {
	t.Helper()
	if a.Status.Code != "OK" {
		t.Fatalf("answer %d %s", a.HTTP, a.Raw)
	}
	var v api.View
	if err := json.Unmarshal(a.Data, &v); err != nil {
		t.Fatalf("data of %s: %v", a.Raw, err)
	}
	return v
}

// post calls a method with body, a JSON object whose "token" is filled in when it
// is "$TOKEN" (or left out, when the body has none).
func (e *tenv) post(method, body string) answer {
	e.t.Helper()
	body = replaceToken(body, e.token)
	return e.do(http.MethodPost, e.url+api.CreatePrefix+method, body)
}

func (e *tenv) get(path, query string) answer {
	e.t.Helper()
	return e.do(http.MethodGet, e.url+path+"?"+replaceToken(query, e.token), "")
}

func (e *tenv) do(method, url, body string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return e.send(http.DefaultClient, req)
}

// send sends req with client and decodes the envelope of the answer.
func (e *tenv) send(client *http.Client, req *http.Request) answer {
	e.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	a := answer{HTTP: resp.StatusCode, Raw: raw, Header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		e.t.Errorf("%s %s: Content-Type %q", req.Method, req.URL, ct)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		e.t.Fatalf("%s %s: not an envelope: %v\n%s", req.Method, req.URL, err, raw)
	}
	return a
}

// from is a client whose connections come from the loopback address ip
// (127.0.0.2, say): another client address, for the limiter of failed tokens.
func from(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func replaceToken(s, token string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("$TOKEN"), []byte(token)))
}

func (e *tenv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *tenv) requests() int { return e.count("SELECT count(*) FROM provisioning_requests") }

// id is the database id of a reference record, for the calls that name records by id.
func (e *tenv) id(table, column, value string) string {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, fmt.Sprintf("SELECT id FROM %s WHERE %s = $1", table, column), value); err != nil {
		e.t.Fatalf("id of %s %s: %v", table, value, err)
	}
	return fmt.Sprint(id)
}

func golden(t *testing.T, name string, got []byte) { testutil.Golden(t, name, got) }
