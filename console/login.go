package console

import (
	"errors"
	"net/http"
	"strings"
)

type loginData struct {
	CSRF, Next, Username, Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, loginData{Next: r.URL.Query().Get("next")})
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.CSRF = randomToken()
	http.SetCookie(w, c.cookie(r, loginCookie, d.CSRF, 0))
	c.render(w, r, status, "login", "Sign in", d)
}

// login signs an operator in: the form's CSRF token must be the login cookie's.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.render(w, r, http.StatusForbidden, "error", "Forbidden", "This form's security token is missing or out of date: reload the sign-in page and try again.")
		return
	}
	d := loginData{Next: r.PostFormValue("next"), Username: r.PostFormValue("username")}
	op, err := SignIn(r.Context(), c.db, d.Username, r.PostFormValue("password"), c.now())
	var locked *LockedError
	switch {
	case errors.As(err, &locked), errors.Is(err, ErrSignIn):
		c.opts.Log.WithField("operator", d.Username).WithField("remote", r.RemoteAddr).Warn("console: failed sign-in")
		d.Error = err.Error()
		c.showLogin(w, r, http.StatusUnauthorized, d)
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	secret, _, err := startSession(r.Context(), c.db, op, c.now(), c.opts.Idle)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.SetCookie(w, c.cookie(r, sessionCookie, secret, 0))
	http.SetCookie(w, c.cookie(r, loginCookie, "", -1))
	c.opts.Log.WithField("operator", op.Name).Info("console: signed in")
	http.Redirect(w, r, safeNext(d.Next), http.StatusSeeOther)
}

// safeNext keeps a redirect after the sign-in within the console: never to another
// site (//evil.example, https://...).
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix
	}
	return next
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := endSession(r.Context(), c.db, ck.Value); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, c.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
