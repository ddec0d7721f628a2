package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestNoSession: no page and no action without a session: each goes to the sign-in
// page, and the action is not done.
func TestNoSession(t *testing.T) {
	e := newEnv(t, false)
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{})
	b := e.browser(t)
	for _, c := range []struct{ method, path, next string }{
		{"GET", "/console/", "?next=%2Fconsole%2F"},
		{"GET", "/console/requests?state=PENDING", "?next=%2Fconsole%2Frequests%3Fstate%3DPENDING"},
		{"GET", fmt.Sprintf("/console/requests/%d", n), fmt.Sprintf("?next=%%2Fconsole%%2Frequests%%2F%d", n)},
		{"POST", fmt.Sprintf("/console/requests/%d/hold", n), ""},
		{"POST", "/console/pause", ""},
		{"POST", "/console/logout", ""},
	} {
		var p page
		if c.method == "GET" {
			p = b.get(c.path)
		} else {
			p = b.post(c.path, url.Values{"csrf": {"x"}, "target": {"queue"}})
		}
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login"+c.next {
			t.Errorf("%s %s: %d to %q, want 303 to the sign-in page", c.method, c.path, p.status, p.header.Get("Location"))
		}
	}
	if r, _ := ops.Get(context.Background(), e.db, n); r.HeldAt != nil {
		t.Error("held without a session")
	}
	if ps, _ := ops.Paused(context.Background(), e.db); len(ps) != 0 {
		t.Errorf("paused without a session: %v", ps)
	}
}

// TestCookieFlags: the session cookie is HttpOnly and SameSite=Strict, and Secure
// under TLS (not on plain HTTP, where the browser would not send it back).
func TestCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newEnv(t, tls)
			b := e.browser(t)
			p := b.signIn("viewer", "viewer-password")
			var got *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if c.Name == "console_session" {
					got = c
				}
			}
			if got == nil {
				t.Fatalf("no session cookie: %v", p.header["Set-Cookie"])
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Secure != tls || got.Path != "/console/" {
				t.Errorf("cookie %s: HttpOnly %v SameSite %v Secure %v Path %s", got.Raw, got.HttpOnly, got.SameSite, got.Secure, got.Path)
			}
		})
	}
}

// TestPasswordHashed: the database holds a bcrypt hash, never the password.
func TestPasswordHashed(t *testing.T) {
	e := newEnv(t, false)
	var h string
	if err := e.db.GetContext(context.Background(), &h, "SELECT password_hash FROM operators WHERE name = 'admin'"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "admin-password") || !strings.HasPrefix(h, "$2a$") {
		t.Errorf("password_hash %q: not a bcrypt hash", h)
	}
}

// TestSignIn: a wrong password or name is refused with one message; the right one
// signs in; sign-out ends the session.
func TestSignIn(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	for _, c := range [][2]string{{"viewer", "wrong-password"}, {"nobody", "viewer-password"}} {
		p := b.signIn(c[0], c[1])
		if p.status != http.StatusUnauthorized || text(p.one(t, "error")) != "wrong name or password" {
			t.Errorf("sign in %s/%s: %d\n%s", c[0], c[1], p.status, p.body)
		}
	}
	// The sign-in form without its token, or with another: refused.
	p := b.post("/console/login", url.Values{"username": {"viewer"}, "password": {"viewer-password"}})
	if p.status != http.StatusForbidden {
		t.Errorf("sign-in without a CSRF token: %d", p.status)
	}
	b = e.as(t, "viewer")
	p = b.get("/console/")
	if p.status != http.StatusOK || text(p.one(t, "who")) != "viewer (viewer)" {
		t.Fatalf("overview after sign-in: %d\n%s", p.status, p.body)
	}
	p = b.post("/console/logout", url.Values{"csrf": {p.csrf(t)}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
		t.Errorf("sign out: %d %s", p.status, p.header.Get("Location"))
	}
	if p = b.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("overview after sign-out: %d", p.status)
	}
	var n int
	e.db.GetContext(context.Background(), &n, "SELECT count(*) FROM console_sessions")
	if n != 0 {
		t.Errorf("%d sessions after sign-out", n)
	}
}

// TestSignInNext: after the sign-in, back to the page asked for; never to another
// site.
func TestSignInNext(t *testing.T) {
	e := newEnv(t, false)
	for _, c := range []struct{ next, want string }{
		{"/console/requests?state=PENDING", "/console/requests?state=PENDING"},
		{"//evil.example/console/", "/console/"},
		{"https://evil.example/console/", "/console/"},
		{"/console/\\evil.example", "/console/"},
		{"", "/console/"},
	} {
		p := e.browser(t).signInFrom("/console/login?next="+url.QueryEscape(c.next), "viewer", "viewer-password")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != c.want {
			t.Errorf("next %q: %d to %q, want %q", c.next, p.status, p.header.Get("Location"), c.want)
		}
	}
}

// TestLockOut: MaxFailures wrong passwords in a row lock the account, the right
// password included, until LockFor has passed.
func TestLockOut(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	for i := 1; i <= console.MaxFailures; i++ {
		p := b.signIn("operator", "wrong-password")
		msg := text(p.one(t, "error"))
		locked := strings.Contains(msg, "locked until")
		if p.status != http.StatusUnauthorized || locked != (i == console.MaxFailures) {
			t.Fatalf("failure %d: %d %q", i, p.status, msg)
		}
	}
	p := b.signIn("operator", "operator-password")
	if p.status != http.StatusUnauthorized || !strings.Contains(text(p.one(t, "error")), "locked until") {
		t.Fatalf("right password while locked: %d\n%s", p.status, p.body)
	}
	e.clock.add(console.LockFor + time.Second)
	if p := b.signIn("operator", "operator-password"); p.status != http.StatusSeeOther {
		t.Fatalf("after the lock: %d\n%s", p.status, p.body)
	}
}

// TestIdleExpiry: a session unused for the idle time is over; one in use is not.
func TestIdleExpiry(t *testing.T) {
	e := newEnv(t, false)
	b := e.as(t, "viewer")
	e.clock.add(console.DefaultIdle - time.Minute)
	if p := b.get("/console/requests"); p.status != http.StatusOK {
		t.Fatalf("within the idle time: %d", p.status)
	}
	e.clock.add(console.DefaultIdle - time.Minute) // since the last page: still live
	if p := b.get("/console/requests"); p.status != http.StatusOK {
		t.Fatalf("within the idle time of the last page: %d", p.status)
	}
	e.clock.add(console.DefaultIdle + time.Second)
	if p := b.get("/console/requests"); p.status != http.StatusSeeOther {
		t.Fatalf("after the idle time: %d", p.status)
	}
}

// TestRefusals: a viewer cannot act; a form without the session's CSRF token, or
// with another, is refused; nothing is changed.
func TestRefusals(t *testing.T) {
	e := newEnv(t, false)
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{})
	path := fmt.Sprintf("/console/requests/%d/hold", n)
	viewer := e.as(t, "viewer")
	vp := viewer.get(fmt.Sprintf("/console/requests/%d", n))
	if len(find(vp.doc, withAttr("id", "levers"))) != 0 || len(find(vp.doc, withAttr("id", "pause"))) != 0 {
		t.Errorf("a viewer is shown levers:\n%s", vp.body)
	}
	operator := e.as(t, "operator")
	op := operator.get("/console/")
	other := e.as(t, "admin").get("/console/").csrf(t) // a real token, of another session
	cases := []struct {
		name string
		b    *browser
		form url.Values
	}{
		{"viewer", viewer, url.Values{"csrf": {vp.csrf(t)}}},
		{"viewer pauses", viewer, url.Values{"csrf": {vp.csrf(t)}, "target": {"queue"}}},
		{"no token", operator, url.Values{}},
		{"wrong token", operator, url.Values{"csrf": {"forged"}}},
		{"another session's token", operator, url.Values{"csrf": {other}}},
	}
	for _, c := range cases {
		target := path
		if c.name == "viewer pauses" {
			target = "/console/pause"
		}
		if p := c.b.post(target, c.form); p.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403\n%s", c.name, p.status, p.body)
		}
	}
	if r, _ := ops.Get(context.Background(), e.db, n); r.HeldAt != nil {
		t.Error("held by a refused form")
	}
	// And the operator's own token works.
	if p := operator.post(path, url.Values{"csrf": {op.csrf(t)}}); p.status != http.StatusOK {
		t.Errorf("the operator's hold: %d\n%s", p.status, p.body)
	}
}
