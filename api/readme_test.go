package api_test

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/api"
)

// example is one curl command of README.md's "Web API" section.
type example struct {
	line int
	url  string // as printed, with $TOKEN
	body string // the heredoc of a POST; "" for a GET
}

var curlURL = regexp.MustCompile(`^curl -s "?(http://127\.0\.0\.1:8080[^" ]*)"?( -d @- <<EOF)?$`)

// readmeExamples reads the curl commands of the "Web API" section.
func readmeExamples(t *testing.T) []example {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	in, inBody := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Web API"
		case !in:
		case inBody && line == "EOF":
			inBody = false
		case inBody:
			out[len(out)-1].body += line + "\n"
		case strings.HasPrefix(line, "curl "):
			m := curlURL.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("README.md:%d: a curl command this test cannot read: %s", n, line)
			}
			out = append(out, example{line: n, url: m[1]})
			inBody = m[2] != ""
		}
	}
	return out
}

// TestReadmeExamples sends the README's curl examples, in order, to the API over the
// sample reference data, with a gateway: each must succeed as printed, and together
// they must show every method, show and list.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	e := setup(t, simGateway)
	seen := map[string]bool{}
	for _, ex := range examples {
		url := strings.Replace(replaceToken(ex.url, e.token), "http://127.0.0.1:8080", e.url, 1)
		verb := http.MethodGet
		if ex.body != "" {
			verb = http.MethodPost
		}
		a := e.do(verb, url, replaceToken(ex.body, e.token))
		if a.HTTP != 200 || a.Status.Code != "OK" {
			t.Errorf("README.md:%d: %s %s: %d %s", ex.line, verb, ex.url, a.HTTP, a.Raw)
			continue
		}
		path, _, _ := strings.Cut(ex.url, "?")
		seen[strings.TrimPrefix(path, "http://127.0.0.1:8080")] = true
		if strings.Contains(ex.body, `"process_immediately": true`) {
			if v := a.view(t); v.LifeCycleState != "COMPLETED" {
				t.Errorf("README.md:%d: %s, want COMPLETED with the gateway", ex.line, v.LifeCycleState)
			}
		}
	}
	for _, m := range []string{"add_services", "cancel_services", "pair_smartcard_decoder", "reset_pin", "set_pin", "reset_smartcard"} {
		if !seen[api.CreatePrefix+m] {
			t.Errorf("README.md has no example of %s", m)
		}
	}
	if !seen[api.PathShow] || !seen[api.PathList] {
		t.Errorf("README.md lacks an example of show or list")
	}
	if n := e.requests(); n != 7 {
		t.Errorf("the examples created %d requests, want 7", n)
	}
}
