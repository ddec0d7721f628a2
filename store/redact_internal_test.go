package store

import (
	"errors"
	"strings"
	"testing"
)

// TestRedact: the password is hidden in every form a connection string takes, and
// the rest is kept to say which database is meant.
func TestRedact(t *testing.T) {
	cases := []struct {
		name, dsn, want, secret string
	}{
		{"url", "postgres://app:s3cret@db:5432/prov?sslmode=disable", "postgres://app:xxxxx@db:5432/prov?sslmode=disable", "s3cret"},
		{"url without password", "postgres://app@db/prov", "postgres://app@db/prov", ""},
		{"url query password", "postgresql://app@db/prov?sslmode=disable&password=s3cret", "postgresql://app@db/prov?sslmode=disable&password=xxxxx", "s3cret"},
		{"url url.Parse refuses", "postgres://app:ab%zzcd@db/prov", "postgres://xxxxx@db/prov", "ab%zzcd"},
		{"url refused, no host", "postgres://app:ab%zzcd", "postgres://xxxxx", "ab%zzcd"},
		{"key=value", "host=db password=s3cret dbname=prov", "host=db password=xxxxx dbname=prov", "s3cret"},
		{"key=value quoted", "host=db password='my s3cret' dbname=prov", "host=db password=xxxxx dbname=prov", "my s3cret"},
		{"key=value quoted escape", `host=db password='it\'s s3cret' dbname=prov`, "host=db password=xxxxx dbname=prov", `s3cret`},
		{"key=value spaces around =", "host=db password = s3cret", "host=db password = xxxxx", "s3cret"},
		{"key=value unterminated quote", "host=db password='s3cret dbname=prov", "host=db password=xxxxx", "s3cret"},
		{"key=value unquoted space", "host=db password=my s3cret", "host=db password=xxxxx", "s3cret"},
		{"key=value without password", "host=db dbname=prov", "host=db dbname=prov", ""},
		{"garbage naming a password", "passwd:s3cret", "xxxxx", "s3cret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Redact(c.dsn)
			if got != c.want {
				t.Errorf("Redact(%q) = %q, want %q", c.dsn, got, c.want)
			}
			if c.secret != "" && strings.Contains(got, c.secret) {
				t.Errorf("Redact(%q) = %q shows the password", c.dsn, got)
			}
			if HasPassword(c.dsn) != (c.secret != "") {
				t.Errorf("HasPassword(%q) = %v", c.dsn, HasPassword(c.dsn))
			}
		})
	}
}

// TestRedactErr: the driver's messages quote what they could not parse; none of
// the password's pieces survives, and the error still unwraps to the driver's.
func TestRedactErr(t *testing.T) {
	cause := errors.New("cause")
	cases := []struct {
		name, dsn, msg string
		secrets        []string
	}{
		{"url parse", "postgres://app:ab%zzcd@db/prov", `pq: parse "postgres://app:ab%zzcd@db/prov": invalid URL escape "%zz"`, []string{"ab%zzcd", `"%zz"`}},
		{"missing =", "host=db password=my s3cret", `missing "=" after "s3cret" in connection info string`, []string{"s3cret"}},
		{"short word", "host=db password=my s3c", `missing "=" after "s3c" in connection info string`, []string{`"s3c"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := redactErr(c.dsn, &wrapped{c.msg, cause})
			for _, s := range c.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%q shows %q", err, s)
				}
			}
			if !errors.Is(err, cause) {
				t.Errorf("%v does not unwrap to the driver's error", err)
			}
		})
	}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// FuzzRedact: whatever the string, a password value given in key=value form never
// comes out of Redact.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"host=db", "postgres://u@h/d", "postgres://u:%zz@h", "x='y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		const secret = "Zq9Secret"
		for _, dsn := range []string{prefix + " password=" + secret, "postgres://u:" + secret + "@" + prefix} {
			if strings.Contains(Redact(dsn), secret) {
				t.Errorf("Redact(%q) = %q", dsn, Redact(dsn))
			}
		}
	})
}
