package api_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/dispatcher"
)

// TestProcessImmediately sends a request of each method during the call, against
// the simulator: the answer shows it COMPLETED, with what the gateway said, and the
// gateway applied it.
func TestProcessImmediately(t *testing.T) {
	e := setup(t, simGateway)
	tests := []struct{ method, body, typ string }{
		{"add_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}], "process_immediately": true}`, "ADD_PRODUCTS"},
		{"cancel_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}], "process_immediately": true}`, "CANCEL_PRODUCTS"},
		{"pair_smartcard_decoder", `{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000003"}, "stb_identifier": {"serial_number": "STB-0003"}, "process_immediately": true}`, "PAIR"},
		{"pair_smartcard_decoder", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1003"}, "smartcard_identifier": {"serial_number": "SC0000000003"}, "process_immediately": true}`, "UNPAIR"},
		{"set_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "pin": "4821", "process_immediately": true}`, "SET_PIN"},
		{"reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true}`, "RESET_PIN"},
		{"reset_smartcard", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true}`, "RESET_SMARTCARD"},
	}
	refs := map[string]bool{}
	for i, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			a := e.post(tt.method, tt.body)
			checkFields(t, a.Data)
			v := a.view(t)
			if v.Type != tt.typ || v.LifeCycleState != "COMPLETED" || v.ProcessImmediately != 1 {
				t.Fatalf("request %s %s (process_immediately %v), want %s COMPLETED:\n%s", v.Type, v.LifeCycleState, v.ProcessImmediately, tt.typ, a.Raw)
			}
			switch {
			case v.ReferenceNumber == nil || !strings.HasPrefix(*v.ReferenceNumber, "GW-") || refs[*v.ReferenceNumber]:
				t.Errorf("reference_number %v: want the gateway's, new", v.ReferenceNumber)
			case v.ExecutedDate == nil:
				t.Errorf("no executed_date")
			case v.ProcessName == nil || *v.ProcessName != dispatcher.ProcessName || v.ProcessID == nil:
				t.Errorf("process %v %v: want the processing run's", v.ProcessName, v.ProcessID)
			case v.Request == nil || !strings.Contains(*v.Request, `"type":"`+tt.typ+`"`):
				t.Errorf("request %v: want the command sent", v.Request)
			case v.Response == nil || !strings.Contains(*v.Response, `"status":"COMPLETED"`):
				t.Errorf("response %v: want the gateway's result", v.Response)
			case v.ErrorCode != nil || v.ErrorDescription != nil:
				t.Errorf("error %v %v", v.ErrorCode, v.ErrorDescription)
			}
			if v.ReferenceNumber != nil {
				refs[*v.ReferenceNumber] = true
			}
			// The send is in the request's history, as a processing run's is.
			if n := e.count(`SELECT count(*) FROM request_attempts WHERE outcome = 'completed' AND http_status = 200`); n != i+1 {
				t.Errorf("%d completed sends recorded, want %d", n, i+1)
			}
			if applied := len(e.sim.AppliedLog()); applied != i+1 {
				t.Errorf("the gateway applied %d commands, want %d", applied, i+1)
			}
			if tt.typ == "SET_PIN" {
				// The gateway got the PIN; once settled, the request keeps it
				// nowhere (issue 11), and the API shows it masked.
				if want := `{"command_id":"5","type":"SET_PIN","smartcard":"1000000004","pin":"****"}`; *v.Request != want {
					t.Errorf("request %s, want %s", *v.Request, want)
				}
				if st, _ := e.sim.State("1000000004"); st.PINIsDefault {
					t.Errorf("the gateway did not set the PIN: %+v", st)
				}
				if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE request LIKE '%4821%' OR pin IS NOT NULL`); n != 0 {
					t.Errorf("%d settled requests keep a PIN", n)
				}
				golden(t, "set_pin_completed.json", stable(a.Raw))
			}
		})
	}
	st, _ := e.sim.State("1000000003")
	if st.STB != "" {
		t.Errorf("card 1000000003 is paired with %s after the unpair", st.STB)
	}
	st, _ = e.sim.State("1000000001")
	if len(st.Products) != 0 {
		t.Errorf("card 1000000001 has %v after add and cancel", st.Products)
	}
}

// TestProcessImmediatelyPending: when the request cannot be sent, the answer shows
// it PENDING, for the next processing run, and the call still succeeds.
func TestProcessImmediatelyPending(t *testing.T) {
	body := `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true}`
	t.Run("gateway down", func(t *testing.T) {
		e := setup(t, downGateway)
		v := e.post("reset_pin", body).view(t)
		if v.LifeCycleState != "PENDING" || v.ExecutedDate != nil || v.ReferenceNumber != nil || v.ProcessName != nil {
			t.Errorf("request %+v, want PENDING and not executed", v)
		}
		// The send was tried, but no connection was made: not an attempt (issue 16,
		// 0.1); due again at once, for the next run, and the try is in its history.
		if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE attempts = 0 AND next_attempt_at IS NULL AND claimed_by IS NULL`); n != 1 {
			t.Errorf("the request was not left due, with no attempt counted")
		}
		if n := e.count(`SELECT count(*) FROM request_attempts WHERE outcome = 'refused' AND error_code = 'E_GATEWAY_UNREACHABLE'`); n != 1 {
			t.Errorf("the refused try is not in the request's history: %d rows", n)
		}
	})
	t.Run("no gateway configured", func(t *testing.T) {
		e := setup(t, noGateway)
		v := e.post("reset_pin", body).view(t)
		if v.LifeCycleState != "PENDING" || v.ProcessImmediately != 1 {
			t.Errorf("request %+v, want PENDING", v)
		}
		if !strings.Contains(e.logs.String(), "no CAS gateway configured") {
			t.Errorf("no warning logged:\n%s", e.logs)
		}
	})
	t.Run("behind an earlier request of the card", func(t *testing.T) {
		e := setup(t, simGateway)
		first := e.post("add_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_identifier": {"serial_number": "SC0000000004"},
		    "services_set": [{"service_identifier": {"code": "KIDS"}}], "scheduled_date": "2099-01-01T00:00:00"}`).view(t)
		v := e.post("reset_smartcard", body).view(t)
		if first.LifeCycleState != "PENDING" || v.LifeCycleState != "PENDING" || len(e.sim.AppliedLog()) != 0 {
			t.Errorf("states %s, %s; %d applied: a card's requests go in order", first.LifeCycleState, v.LifeCycleState, len(e.sim.AppliedLog()))
		}
	})
}

// TestTokens: a missing, unknown or revoked token gets 401 and creates nothing, for
// every method and for show and list. Without the cache of tokens found live: with
// it, see TestRevokedTokenCached.
func TestTokens(t *testing.T) {
	e := setupWith(t, noGateway, func(o *api.Options) { o.AuthFailures, o.TokenCache = 1<<20, -1 })
	ctx := context.Background()
	good := `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`
	if a := e.post("reset_pin", good); a.HTTP != 200 {
		t.Fatalf("good token: %d %s", a.HTTP, a.Raw)
	}
	old := e.token
	if err := api.RevokeToken(ctx, e.db, "crm"); err != nil {
		t.Fatal(err)
	}
	if err := api.RevokeToken(ctx, e.db, "crm"); err == nil || !strings.Contains(err.Error(), "no live token") {
		t.Errorf("second revoke: %v", err)
	}
	tokens := map[string]string{
		"missing":    `{"subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
		"empty":      `{"token": "", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
		"not text":   `{"token": 12345, "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
		"unknown":    `{"token": "prov_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`,
		"revoked":    good,
		"bad fields": `{"token": "nope", "pin": 1, "smartcard_ca_id": {}}`, // the token first: a stranger learns nothing
	}
	for name, body := range tokens {
		for _, m := range []string{"add_services", "cancel_services", "pair_smartcard_decoder", "reset_pin", "set_pin", "reset_smartcard"} {
			a := e.post(m, body)
			if a.HTTP != http.StatusUnauthorized || a.Status.Code != "ERROR" || a.Status.Message != "E_UNAUTHORIZED" || string(a.Data) != "null" {
				t.Errorf("%s token, %s: %d %s", name, m, a.HTTP, a.Raw)
			}
		}
	}
	for _, q := range []string{"id=1", "token=&id=1", "token=nope&id=1", "token=" + old + "&id=1", "token=" + old + "&id=1&x=2"} {
		for _, path := range []string{api.PathShow, api.PathList} {
			if a := e.get(path, q); a.HTTP != http.StatusUnauthorized || a.Status.Message != "E_UNAUTHORIZED" {
				t.Errorf("%s?%s: %d %s", path, q, a.HTTP, a.Raw)
			}
		}
	}
	if n := e.requests(); n != 1 {
		t.Errorf("%d requests, want only the first call's", n)
	}
	// The name is free again: a new token works, the old one still does not.
	tok, err := api.CreateToken(ctx, e.db, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateToken(ctx, e.db, "crm"); err == nil || !strings.Contains(err.Error(), "revoke it first") {
		t.Errorf("a second live token named crm: %v", err)
	}
	e.token = tok
	if a := e.post("reset_pin", good); a.HTTP != 200 {
		t.Errorf("new token: %d %s", a.HTTP, a.Raw)
	}
	ts, err := api.ListTokens(ctx, e.db)
	if err != nil || len(ts) != 2 || ts[0].RevokedAt == nil || ts[0].Requests != 1 || ts[1].RevokedAt != nil || ts[1].Requests != 1 {
		t.Errorf("tokens %+v, %v", ts, err)
	}
	for _, bad := range []string{"", "-x", "a b", strings.Repeat("n", 65)} {
		if _, err := api.CreateToken(ctx, e.db, bad); err == nil {
			t.Errorf("token name %q accepted", bad)
		}
	}
	// Only the hash is stored.
	if n := e.count(`SELECT count(*) FROM api_tokens WHERE token_sha256 = $1 OR token_sha256 LIKE '%' || $2 || '%'`, tok, tok[5:]); n != 0 {
		t.Errorf("a token is stored as it is")
	}
}

// TestRevokedTokenCached: a token revoked while the API holds it as live creates
// nothing (the insert checks it: 401), and shows and lists for at most
// Options.TokenCache.
func TestRevokedTokenCached(t *testing.T) {
	const ttl = 300 * time.Millisecond
	e := setupWith(t, noGateway, func(o *api.Options) { o.AuthFailures, o.TokenCache = 1<<20, ttl })
	ctx := context.Background()
	good := `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`
	if a := e.post("reset_pin", good); a.HTTP != 200 {
		t.Fatalf("good token: %d %s", a.HTTP, a.Raw)
	}
	if err := api.RevokeToken(ctx, e.db, "crm"); err != nil {
		t.Fatal(err)
	}
	if a := e.post("reset_pin", good); a.HTTP != http.StatusUnauthorized || a.Status.Message != "E_UNAUTHORIZED" || string(a.Data) != "null" {
		t.Errorf("create with the revoked token: %d %s", a.HTTP, a.Raw)
	}
	if n := e.requests(); n != 1 {
		t.Errorf("%d requests, want only the first call's", n)
	}
	// The create found it revoked and dropped it: no call takes it as live again.
	if a := e.get(api.PathShow, "token=$TOKEN&number=1"); a.HTTP != http.StatusUnauthorized {
		t.Errorf("show after the refused create: %d %s", a.HTTP, a.Raw)
	}

	// A token revoked after a show: later shows pass until the cache lets it go.
	tok, err := api.CreateToken(ctx, e.db, "crm")
	if err != nil {
		t.Fatal(err)
	}
	e.token = tok
	if a := e.get(api.PathShow, "token=$TOKEN&number=1"); a.HTTP != 200 {
		t.Fatalf("show: %d %s", a.HTTP, a.Raw)
	}
	if err := api.RevokeToken(ctx, e.db, "crm"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		a := e.get(api.PathShow, "token=$TOKEN&number=1")
		if a.HTTP == http.StatusUnauthorized {
			break
		}
		if a.HTTP != 200 {
			t.Fatalf("show: %d %s", a.HTTP, a.Raw)
		}
		if since := time.Since(revoked); since > ttl+5*time.Second {
			t.Fatalf("the revoked token still shows %v after its revocation (cache %v)", since, ttl)
		}
		time.Sleep(10 * time.Millisecond) // between polls of the condition
	}
}

// TestNoSecretsInLogs runs a session of calls of every kind, the processing of a
// PIN included, and checks that no log line holds a token or a PIN.
func TestNoSecretsInLogs(t *testing.T) {
	const pin = "5831"
	var logs []string
	secrets := []string{gatewayToken}
	for _, gw := range []gateway{simGateway, downGateway} {
		e := setup(t, gw)
		secrets = append(secrets, e.token)
		calls := []struct{ method, body string }{
			{"set_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "pin": "` + pin + `", "process_immediately": true}`},
			{"set_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005", "pin": "` + pin + `"}`},
			{"set_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000099", "pin": "` + pin + `"}`},
			{"set_pin", `{"token": "$TOKEN", "smartcard_ca_id": "1000000004", "pin": ` + pin + `}`},
			{"set_pin", `{"token": "$TOKEN` + pin + `", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "pin": "` + pin + `"}`},
			{"set_pin", `{"token": "$TOKEN", "pin": "` + pin + `", "secret": "` + pin + `"}`},
			{"add_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC0000000001"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}], "process_immediately": true}`},
			{"pair_smartcard_decoder", `{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC0000000003"}, "process_immediately": true}`},
			{"reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true}`},
		}
		for _, c := range calls {
			e.post(c.method, c.body)
		}
		e.get(api.PathShow, "token=$TOKEN&number=1")
		e.get(api.PathShow, "token=$TOKEN&number=99")
		e.get(api.PathList, "token=$TOKEN&type=SET_PIN")
		e.get(api.PathList, "token=$TOKEN"+pin+"&type=SET_PIN")
		e.get(api.PathList, "token=$TOKEN&pin="+pin)
		if got := strings.Count(e.logs.String(), `"msg":"api call`); got != len(calls)+5 {
			t.Errorf("%d call lines logged, want one per call (%d):\n%s", got, len(calls)+5, e.logs)
		}
		logs = append(logs, e.logs.String())
	}
	all := strings.Join(logs, "")
	if testing.Verbose() {
		t.Log(all)
	}
	if !strings.Contains(all, `"msg":"processing run finished"`) || !strings.Contains(all, `"token_name":"crm"`) {
		t.Fatalf("the session logged too little to mean anything:\n%s", all)
	}
	pinRE := regexp.MustCompile(`(^|[^0-9])` + pin + `([^0-9]|$)`)
	for _, line := range strings.Split(all, "\n") {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a token in the log: %s", line)
			}
		}
		if strings.Contains(line, api.TokenPrefix) {
			t.Errorf("something like a token in the log: %s", line)
		}
		if pinRE.MatchString(line) {
			t.Errorf("the PIN in the log: %s", line)
		}
	}
}

// TestProcessImmediatelyRuns: a processing run is recorded only when the call's
// request may be sent: not for one behind an earlier request of its card, nor for
// one scheduled later, however many calls come.
func TestProcessImmediatelyRuns(t *testing.T) {
	e := setup(t, simGateway)
	runs := func() int { return e.count(`SELECT count(*) FROM processes`) }
	e.post("add_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_identifier": {"serial_number": "SC0000000004"},
	    "services_set": [{"service_identifier": {"code": "KIDS"}}], "scheduled_date": "2099-01-01T00:00:00"}`).view(t)
	for i := range 20 {
		v := e.post("reset_smartcard", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": 1}`).view(t)
		if v.LifeCycleState != "PENDING" {
			t.Fatalf("call %d: %s, want PENDING behind the card's first request", i, v.LifeCycleState)
		}
	}
	later := e.post("add_services", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_identifier": {"serial_number": "SC0000000005"},
	    "services_set": [{"service_identifier": {"code": "KIDS"}}], "scheduled_date": "2099-01-01T00:00:00", "process_immediately": true}`).view(t)
	if n := runs(); n != 0 || later.LifeCycleState != "PENDING" {
		t.Errorf("%d processing runs recorded (%s), want none: nothing was sent", n, later.LifeCycleState)
	}
	v := e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1006"}, "smartcard_ca_id": "1000000006", "process_immediately": true}`).view(t)
	if n := runs(); n != 1 || v.LifeCycleState != "COMPLETED" || v.ProcessID == nil {
		t.Errorf("%d processing runs recorded for one send (%s), want 1", n, v.LifeCycleState)
	}
	if n := e.count(`SELECT count(*) FROM processes WHERE claimed = 1 AND completed = 1 AND state = 'SUCCEEDED'`); n != 1 {
		t.Errorf("the run does not record its send")
	}
}
