package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/provisioning"
)

// FuzzBody feeds arbitrary bodies to each method's reading of a call (size, syntax,
// names, JSON shapes, then Parse): it must never panic, and every problem it reports
// must name a parameter and carry a code and a description.
func FuzzBody(f *testing.F) {
	for _, s := range []string{
		`{"token": "t", "subscription_identifier": {"number": "S1001"}, "smartcard_identifier": {"serial_number": "SC1"}, "services_set": [{"service_identifier": {"code": "SPORTS"}}]}`,
		`{"token": "t", "subscription_identifier": {"id": 7}, "smartcard_ca_id": 100, "pin": "0000", "process_immediately": "yes"}`,
		`{"smartcard_identifier": {"id": 1, "alternative_code": "A"}, "stb_identifier": {"id": "x"}, "services_set": [{}, {"service_identifier": null}, 3]}`,
		`{"services_set": {"a": 1}, "priority": 1, "scheduled_date": "2026-12-01T10:00:00", "x": []}`,
		`[]`, `null`, `{"a":`, `{} {}`, `{"token": "a", "token": "b"}`, `{"pin": "1\u00002"}`, `{"x": [{"y": 1, "y": 2}]}`, `{"token": "` + strings.Repeat("x", 100) + `"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for i := range methods {
			m := &methods[i]
			members, fail := readBody(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(body)), 4096)
			if fail != nil {
				if fail.code == "" || fail.desc == "" || fail.status < 400 {
					t.Fatalf("%s: failure without code or description: %+v", m.name, fail)
				}
				if strings.Contains(fail.desc, "Go ") || strings.Contains(fail.desc, "map[") || strings.Contains(fail.desc, "json.") {
					t.Fatalf("%s: a description names Go types: %q", m.name, fail.desc)
				}
				continue
			}
			tokenOf(members)
			var all []apiProblem
			all = append(all, m.checkNames(members)...)
			in, shapes := m.instruction(members)
			all = append(all, shapes...)
			if shapes == nil {
				_, ps := provisioning.Parse(in, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
				for _, p := range ps {
					all = append(all, apiProblem{m.param(p), p.Code, m.message(p)})
				}
			}
			for _, p := range all {
				if p.Parameter == "" || p.Code == "" || p.Description == "" {
					t.Fatalf("%s: problem without parameter, code or description: %+v (body %q)", m.name, p, body)
				}
			}
		}
	})
}
