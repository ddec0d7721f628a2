package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/cmdline"
)

// referenceDir writes a small reference directory the way the provisioner
// keeps one.
func referenceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"smartcards.csv": "serial_number,alternative_code,ca_id,subscription_number\nSC1,,1000000001,\nSC2,,1000000002,\n",
		"stbs.csv":       "serial_number,alternative_code,ca_id,subscription_number\nSTB1,,7700000001,\n",
		"products.csv":   "code,alternative_code,classification,ca_id\nSPORTS,,SERVICE,P-1001\nBOX,,HARDWARE,\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func withEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := getenv
	getenv = func(k string) string { return env[k] }
	t.Cleanup(func() { getenv = old })
}

func TestBadFlags(t *testing.T) {
	dir := referenceDir(t)
	base := []string{"-reference", dir, "-token", "t", "-destination", "CRM01"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", []string{"-reference", dir, "-destination", "CRM01"}, nil, "-token (or CAS_GATEWAY_TOKEN) is required"},
		{"no destination", []string{"-reference", dir, "-token", "t"}, nil, "-destination (or CAS_DESTINATION_ID) is required"},
		{"no reference", []string{"-token", "t", "-destination", "CRM01"}, nil, "-reference is required"},
		{"reference missing", []string{"-reference", dir + "/nope", "-token", "t", "-destination", "CRM01"}, nil, "-reference " + dir + "/nope: not a directory"},
		{"unknown flag", append(base, "-colour"), nil, "flag provided but not defined: -colour"},
		{"not a number", append(base, "-busy", "lots"), nil, `invalid value "lots" for flag -busy: parse error`},
		{"argument", append(base, "extra"), nil, `unexpected argument "extra"`},
		{"busy above 1", append(base, "-busy", "1.5"), nil, "-busy 1.5: expected a probability from 0 to 1"},
		{"unavailable negative", append(base, "-unavailable", "-0.5"), nil, "-unavailable -0.5: expected a probability from 0 to 1"},
		{"after-apply sum", append(base, "-partial-failure", "0.5", "-drop-after-apply", "0.6"), nil,
			"-partial-failure + -drop-after-apply + -stall-after-apply is 1.1: expected at most 1 (at most one fires per batch)"},
		{"negative latency", append(base, "-latency", "-1s"), nil, "-latency -1s: expected a duration of at least 0"},
		{"zero stall", append(base, "-stall-after-apply", "0.1", "-stall", "0s"), nil, "-stall 0s: expected more than 0 with -stall-after-apply"},
		{"negative rate", append(base, "-rate-limit", "-2"), nil, "-rate-limit -2: expected batches per second, at least 0"},
		{"zero burst", append(base, "-rate-burst", "0"), nil, "-rate-burst 0: expected at least 1"},
		{"log level", append(base, "-log-level", "loud"), nil, `-log-level "loud": expected error, warn, info or debug`},
		{"unknown disabled card", append(base, "-disabled", "1000000001, SCX"), nil, "-disabled SCX: not a smartcard CA id of " + dir},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withEnv(t, tc.env)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if !cmdline.IsUsage(err) || err.Error() != tc.want {
				t.Fatalf("run() = %v, want usage error %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

// TestRun starts the simulator on a free port, talks to it over HTTP and
// stops it by cancelling the context, as SIGINT does.
func TestRun(t *testing.T) {
	dir := referenceDir(t)
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		token, dst string
	}{
		{"flags", []string{"-token", "t1", "-destination", "CRM01"}, nil, "t1", "CRM01"},
		{"environment", nil, map[string]string{envToken: "t2", envDestination: "CRM02"}, "t2", "CRM02"},
		{"flag wins over environment", []string{"-token", "t3"}, map[string]string{envToken: "t2", envDestination: "CRM02"}, "t3", "CRM02"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withEnv(t, tc.env)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdoutR, stdoutW := io.Pipe()
			var stderr bytes.Buffer
			args := append([]string{"-addr", "127.0.0.1:0", "-reference", dir, "-disabled", "1000000002", "-log-level", "debug"}, tc.args...)
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, args, stdoutW, &stderr)
				stdoutW.Close()
			}()
			line, err := bufio.NewReader(stdoutR).ReadString('\n')
			if err != nil {
				t.Fatalf("no listening line: %v; stderr %s", err, stderr.String())
			}
			base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
			if !ok {
				t.Fatalf("stdout %q", line)
			}
			go io.Copy(io.Discard, stdoutR)

			post := func(body string) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, base+casapi.PathBatches, strings.NewReader(body))
				req.Header.Set(casapi.HeaderAuthorization, casapi.BearerPrefix+tc.token)
				req.Header.Set(casapi.HeaderDestinationID, tc.dst)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			// The ids come from the CSV files: ca_id, and only SERVICE products.
			status, body := post(`{"batch_id":"b","commands":[` +
				`{"command_id":"1","type":"ADD_PRODUCTS","smartcard":"1000000001","products":["P-1001"]},` +
				`{"command_id":"2","type":"PAIR","smartcard":"1000000001","stb":"7700000001"},` +
				`{"command_id":"3","type":"ADD_PRODUCTS","smartcard":"SC1","products":["P-1001"]},` +
				`{"command_id":"4","type":"ADD_PRODUCTS","smartcard":"1000000001","products":["BOX"]},` +
				`{"command_id":"5","type":"ADD_PRODUCTS","smartcard":"1000000002","products":["P-1001"]}]}`)
			want := `{"batch_id":"b","results":[` +
				`{"command_id":"1","status":"COMPLETED","reference":"GW-00000001"},` +
				`{"command_id":"2","status":"COMPLETED","reference":"GW-00000002"},` +
				`{"command_id":"3","status":"REJECTED","reference":"GW-00000003","error_code":"E_UNKNOWN_SMARTCARD","error_description":"smartcard SC1 is not known"},` +
				`{"command_id":"4","status":"REJECTED","reference":"GW-00000004","error_code":"E_UNKNOWN_PRODUCT","error_description":"product BOX is not known"},` +
				`{"command_id":"5","status":"REJECTED","reference":"GW-00000005","error_code":"E_SMARTCARD_DISABLED","error_description":"smartcard 1000000002 is disabled"}]}` + "\n"
			if status != 200 || body != want {
				t.Fatalf("got %d %s\nwant %s", status, body, want)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run() = %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("run did not return after cancel")
			}
			for _, s := range []string{"CAS gateway simulator started", "path=/v1/batches", "status=200", "shutting down", "applied=2"} {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// TestShutdownCutsStall: a batch stalled for an hour does not hold the
// shutdown.
func TestShutdownCutsStall(t *testing.T) {
	withEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	var stderr bytes.Buffer
	args := []string{"-addr", "127.0.0.1:0", "-reference", referenceDir(t), "-token", "t", "-destination", "D",
		"-stall-after-apply", "1", "-stall", "1h"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, stdoutW, &stderr)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v; stderr %s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdoutR)
	base := strings.TrimPrefix(strings.TrimSpace(line), "listening on ")
	got := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+casapi.PathBatches,
			strings.NewReader(`{"batch_id":"b","commands":[{"command_id":"1","type":"RESET_PIN","smartcard":"1000000001"}]}`))
		req.Header.Set(casapi.HeaderAuthorization, "Bearer t")
		req.Header.Set(casapi.HeaderDestinationID, "D")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("got an answer: " + resp.Status)
		}
		got <- err
	}()
	// Wait until the batch is applied, so it is in its stall.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(base + "/sim/log")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"command_id":"1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batch never applied")
		}
	}
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if err := <-got; !errors.Is(err, io.EOF) {
		t.Fatalf("client: %v, want EOF (connection closed without an answer)", err)
	}
}
