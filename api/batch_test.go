package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/provisioner/provisioner/api"
)

// TestCreatesTogether: calls made at once, which the group commit writes several to
// a statement, each get their own request: the card and service of their call, and
// the number under which their reference is stored. Some calls are wrong (unknown
// service): they fail alone, and the others of their batch are created.
func TestCreatesTogether(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  func(*api.Options)
	}{
		{"batches", nil},
		{"two at most, one batch at a time", func(o *api.Options) { o.Batch, o.BatchRunning = 2, 1 }},
		{"one by one", func(o *api.Options) { o.Batch = 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := setupWith(t, noGateway, func(o *api.Options) {
				o.AuthFailures = 1 << 20
				if c.opt != nil {
					c.opt(o)
				}
			})
			services := []struct{ code, caID string }{{"SPORTS", "P-1001"}, {"MOVIES", "P-1002"}, {"KIDS", "P-1003"}, {"NEWS", "P-1004"}}
			const n = 48
			type sent struct {
				card, service, reference string
				wrong                    bool
			}
			type got struct {
				i int
				a answer
			}
			answers := make(chan got, n)
			calls := make([]sent, n)
			for i := range calls {
				s := sent{card: fmt.Sprintf("100000000%d", i%7+1), service: services[i%len(services)].caID, reference: fmt.Sprintf("CRM-T-%d", i)}
				code := services[i%len(services)].code
				if i%11 == 5 {
					s.wrong, code = true, "NO-SUCH-SERVICE"
				}
				calls[i] = s
				body := fmt.Sprintf(`{"token": "$TOKEN", "smartcard_identifier": {"serial_number": "SC000000000%d"}, "services_set": [{"service_identifier": {"code": %q}}], "reference": %q}`,
					i%7+1, code, s.reference)
				go func() { answers <- got{i, e.post("add_services", body)} }()
			}
			created := 0
			for range n {
				g := <-answers
				s := calls[g.i]
				if s.wrong {
					if g.a.HTTP != 400 || g.a.Status.Message != "E_UNKNOWN_SERVICE" {
						t.Errorf("call %d with an unknown service: %d %s", g.i, g.a.HTTP, g.a.Raw)
					}
					continue
				}
				if g.a.HTTP != 200 {
					t.Errorf("call %d: %d %s", g.i, g.a.HTTP, g.a.Raw)
					continue
				}
				created++
				v := g.a.view(t)
				if len(v.ParametersSet) != 1 || v.ParametersSet[0].SmartcardCAID != s.card || v.ParametersSet[0].ServiceCAID == nil || *v.ParametersSet[0].ServiceCAID != s.service {
					t.Errorf("call %d (card %s, service %s): answered with %+v", g.i, s.card, s.service, v.ParametersSet)
				}
				var ref string
				if err := e.db.GetContext(context.Background(), &ref, "SELECT reference FROM provisioning_requests WHERE number = $1", v.Number); err != nil {
					t.Fatalf("call %d: request %s: %v", g.i, v.Number, err)
				}
				if ref != s.reference {
					t.Errorf("call %d: answered with request %s, whose reference is %s, not the call's %s", g.i, v.Number, ref, s.reference)
				}
			}
			if got := e.requests(); got != created || created < n-5 {
				t.Errorf("%d requests, %d calls answered 200 of %d", got, created, n)
			}
		})
	}
}
