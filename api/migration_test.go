package api_test

import (
	"io/fs"
	"testing"

	provsql "github.com/provisioner/provisioner/sql"
)

// TestTokenNamesMigration: migration 000009 gives the requests the API created
// before it their token's name, leaves a file's requests without one, can run on a
// schema that has created_by_token already (IF NOT EXISTS), and its down file undoes
// it.
func TestTokenNamesMigration(t *testing.T) {
	e := setup(t, noGateway)
	e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004"}`).view(t)
	e.post("reset_pin", `{"token": "$TOKEN", "subscription_identifier": {"number": "S1005"}, "smartcard_ca_id": "1000000005"}`).view(t)
	// A request as a file makes it: no token.
	if _, err := e.db.Exec(`INSERT INTO provisioning_requests (type, priority, scheduled_date, smartcard_ca_id) VALUES ('RESET_PIN', 'REGULAR', now(), '1000000006')`); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := fs.ReadFile(provsql.Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	up, down := read("000009_request_tokens.up.sql"), read("000009_request_tokens.down.sql")
	if _, err := e.db.Exec(down); err != nil {
		t.Fatalf("down: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'provisioning_requests' AND column_name LIKE '%by_token'`); n != 0 {
		t.Fatalf("%d columns left by the down migration", n)
	}
	// As if another migration had added created_by_token first.
	if _, err := e.db.Exec(`ALTER TABLE provisioning_requests ADD COLUMN created_by_token text`); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := e.db.Exec(up); err != nil {
			t.Fatalf("up, time %d: %v", i+1, err)
		}
	}
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE created_by_token = 'crm' AND updated_by_token = 'crm' AND source_token_id IS NOT NULL`); n != 2 {
		t.Errorf("%d of the API's 2 requests named by their token", n)
	}
	if n := e.count(`SELECT count(*) FROM provisioning_requests WHERE created_by_token IS NULL AND updated_by_token IS NULL AND source_token_id IS NULL`); n != 1 {
		t.Errorf("%d of the file's 1 request without a token's name", n)
	}
}
