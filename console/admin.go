package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/ops"
)

// The admin's pages: operators (CreateOperator, DisableOperator, SetPassword, as
// `provisioner operators`) and the Web API's tokens (api.CreateToken, RevokeToken,
// as `provisioner tokens`), each action recorded in the audit trail as its command
// line would be; and the Audit page, which every role reads.

type operatorsData struct {
	Operators []Operator
	Tokens    []api.Token
	Roles     []string
	Now       time.Time
	Cap       int64 // a token's requests are counted up to it
}

func (c *Console) operators(w http.ResponseWriter, r *http.Request) {
	d := operatorsData{Roles: Roles, Now: c.now(), Cap: CountCap}
	var err error
	if d.Operators, err = ListOperators(r.Context(), c.db); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Tokens, err = api.ListTokensUpTo(r.Context(), c.db, CountCap); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "operators", "Operators and tokens", d)
}

// secretData is a password or token shown once.
type secretData struct {
	What, Secret, Note string
}

// adminMistake: the account functions' errors that are the admin's mistakes (400),
// not failures.
func adminMistake(err error) bool {
	for _, e := range []error{ErrName, ErrRole, ErrPassword, ErrExists, ErrNoOperator, api.ErrTokenName, api.ErrTokenExists, api.ErrNoToken} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (c *Console) adminResult(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	if err == nil {
		return true
	}
	if adminMistake(err) {
		c.render(w, r, http.StatusBadRequest, "result", what, resultData{What: what, Error: err.Error(), Back: Prefix + "operators"})
		return false
	}
	c.fail(w, r, err)
	return false
}

// audited records an admin's action; it is done and committed, so a failure to
// record it is logged, not undone (as the command line says it and goes on).
func (c *Console) audited(r *http.Request, command, action string, params map[string]any) {
	s := sessionOf(r)
	if err := ops.Audit(r.Context(), c.db, ops.Actor{Operator: s.Operator, Command: "console: " + command}, action, params, nil, c.now()); err != nil {
		c.opts.Log.WithError(err).WithField("action", action).Error("console: done, but not recorded in the audit trail")
	}
}

// password is the form's password, or a generated one (generated true).
func password(r *http.Request) (string, bool) {
	if p := r.PostFormValue("password"); p != "" {
		return p, false
	}
	return GeneratePassword(), true
}

func (c *Console) operatorCreate(w http.ResponseWriter, r *http.Request) {
	name, role := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("role"))
	pw, generated := password(r)
	what := "create operator " + name
	if !c.adminResult(w, r, what, CreateOperator(r.Context(), c.db, name, role, pw, c.now())) {
		return
	}
	c.audited(r, fmt.Sprintf("operators create %s --role %s", name, role), ops.ActionOperatorCreate, map[string]any{"name": name, "role": role})
	c.showPassword(w, r, name, pw, generated, "created, role "+role)
}

func (c *Console) showPassword(w http.ResponseWriter, r *http.Request, name, pw string, generated bool, done string) {
	if !generated {
		c.render(w, r, http.StatusOK, "result", "operator "+name, resultData{What: "operator " + name, Changed: 1, Back: Prefix + "operators",
			Outcomes: []outcome{{Changed: true, Detail: "operator " + name + " " + done + ", with the password given"}}})
		return
	}
	c.render(w, r, http.StatusOK, "secret", "Operator "+name, secretData{What: "operator " + name + " " + done + ": its password", Secret: pw,
		Note: "It is shown this once and cannot be read back: give it to " + name + " now."})
}

func (c *Console) operatorAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	switch action {
	case "disable":
		if !c.adminResult(w, r, "disable operator "+name, DisableOperator(r.Context(), c.db, name, c.now())) {
			return
		}
		c.audited(r, "operators disable "+name, ops.ActionOperatorDisable, map[string]any{"name": name})
		c.render(w, r, http.StatusOK, "result", "operator "+name, resultData{What: "disable operator " + name, Changed: 1, Back: Prefix + "operators",
			Outcomes: []outcome{{Changed: true, Detail: "operator " + name + " disabled: its sessions are ended"}}})
	case "password":
		pw, generated := password(r)
		if !c.adminResult(w, r, "set the password of "+name, SetPassword(r.Context(), c.db, name, pw, c.now())) {
			return
		}
		c.audited(r, "operators password "+name, ops.ActionOperatorPassword, map[string]any{"name": name})
		c.showPassword(w, r, name, pw, generated, "has a new password, its lock-out cleared and its sessions ended")
	default:
		c.render(w, r, http.StatusNotFound, "error", "Not found", fmt.Sprintf("No such action %q on an operator: disable or password.", action))
	}
}

func (c *Console) tokenCreate(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	secret, err := api.CreateToken(r.Context(), c.db, name)
	if !c.adminResult(w, r, "create token "+name, err) {
		return
	}
	c.audited(r, "tokens create "+name, ops.ActionTokenCreate, map[string]any{"name": name})
	c.render(w, r, http.StatusOK, "secret", "Token "+name, secretData{What: "token " + name + " issued", Secret: secret,
		Note: "It is shown this once and cannot be read back: give it to the caller now."})
}

func (c *Console) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !c.adminResult(w, r, "revoke token "+name, api.RevokeToken(r.Context(), c.db, name)) {
		return
	}
	c.audited(r, "tokens revoke "+name, ops.ActionTokenRevoke, map[string]any{"name": name})
	c.render(w, r, http.StatusOK, "result", "token "+name, resultData{What: "revoke token " + name, Changed: 1, Back: Prefix + "operators",
		Outcomes: []outcome{{Changed: true, Detail: "token " + name + " revoked: the Web API refuses it from now on"}}})
}

// AuditPage is how many audit entries a page shows.
const AuditPage = 50

type auditData struct {
	Entries []ops.AuditEntry
	Form    url.Values
	Actions []string
	Errors  []string
	Next    string
}

// audit is the Audit page: the audit trail, filtered by operator, action and since,
// newest first, paged by keyset (the at and id of the last entry shown).
func (c *Console) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := auditData{Form: q, Actions: ops.Actions}
	f := ops.AuditFilter{Operator: strings.TrimSpace(q.Get("operator")), Action: strings.TrimSpace(q.Get("action")), Limit: AuditPage + 1}
	if f.Action != "" && !slices.Contains(ops.Actions, f.Action) {
		d.Errors = append(d.Errors, fmt.Sprintf("action: %q is not one of %s", f.Action, strings.Join(ops.Actions, ", ")))
	}
	if v := strings.TrimSpace(q.Get("since")); v != "" {
		t, err := ops.ParseTime(v, c.now())
		if err != nil {
			d.Errors = append(d.Errors, "since: "+err.Error())
		}
		f.Since = t
	}
	if v := q.Get("before_at"); v != "" {
		t, err1 := time.Parse(time.RFC3339Nano, v)
		id, err2 := strconv.ParseInt(q.Get("before_id"), 10, 64)
		if err1 != nil || err2 != nil {
			d.Errors = append(d.Errors, "before_at, before_id: not a position in the audit trail")
		}
		f.BeforeAt, f.BeforeID = t, id
	}
	if len(d.Errors) > 0 {
		c.render(w, r, http.StatusBadRequest, "audit", "Audit", d)
		return
	}
	es, err := ops.ListAudit(r.Context(), c.db, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(es) > AuditPage {
		es = es[:AuditPage]
		next := cloneValues(q)
		last := es[len(es)-1]
		next.Set("before_at", last.At.UTC().Format(time.RFC3339Nano))
		next.Set("before_id", strconv.FormatInt(last.ID, 10))
		d.Next = Prefix + "audit?" + next.Encode()
	}
	d.Entries = es
	c.render(w, r, http.StatusOK, "audit", "Audit", d)
}
