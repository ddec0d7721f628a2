package api

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// create is the handler of one of the methods that create a request. In order: the
// body's size and syntax, the token (nothing else is looked at before it), the
// parameters' names and shapes, the instruction rules, then the request is written
// and, with process_immediately, sent.
func (s *Server) create(m method) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) *failure {
		members, f := readBody(w, r, s.opts.MaxBody)
		if f != nil {
			return f
		}
		if f := s.authenticate(r.Context(), tokenOf(members), c); f != nil {
			return f
		}
		if ps := m.checkNames(members); ps != nil {
			return refused(ps)
		}
		in, shapes := m.instruction(members)
		if shapes != nil {
			return refused(shapes)
		}
		// As the importer does: Resolve even a draft that Parse refused, and keep its
		// problems about the parameters Parse found no fault with.
		d, ps := provisioning.Parse(in, s.opts.Now().UTC())
		look, err := lookUp(r.Context(), s.db, &d)
		if err != nil {
			return &failure{err: err}
		}
		res, rps := provisioning.Resolve(d, look)
		if ps == nil && rps == nil {
			return s.write(w, r, c, &res)
		}
		var out []apiProblem
		named := map[string]bool{}
		for _, p := range ps {
			out = append(out, apiProblem{m.param(p), p.Code, m.message(p)})
			named[base(m.param(p))] = true
		}
		for _, p := range rps {
			if !named[base(m.param(p))] {
				out = append(out, apiProblem{m.param(p), p.Code, m.message(p)})
			}
		}
		return refused(out)
	}
}

// write creates the request res, sends it if it is to be processed immediately, and
// answers with it as it then stands. The insert checks the call's token once more
// (insert_request.sql) and returns the request: a call that sends nothing makes
// this one statement after the lookups.
func (s *Server) write(w http.ResponseWriter, r *http.Request, c *call, res *provisioning.Resolved) *failure {
	ctx := r.Context()
	v, err := ops.ScanOne(ctx, s.db, provsql.InsertRequest, append(store.RequestValues(res), c.tokenHash)...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The token was revoked since it was checked: nothing was created.
		s.tokens.forget(c.tokenHash)
		return errUnauthorized
	case store.IsUniqueViolation(err, "provisioning_requests_reference"):
		// Another call with the same reference won the race since the lookup.
		return refused([]apiProblem{{pReference, provisioning.CodeDuplicateReference, "reference " + res.Reference + " is already used by another request"}})
	case err != nil:
		return &failure{err: fmt.Errorf("create request: %w", err)}
	}
	if res.ProcessImmediately {
		log := s.log.WithFields(logrus.Fields{"request_id": v.ID, "x_request_id": c.xid})
		switch d := s.opts.Dispatcher; {
		case d == nil:
			log.Warn("process_immediately: no CAS gateway configured; the request waits for the next processing run")
		default:
			if _, err := d.RunRequest(ctx, v.ID); err != nil {
				log.WithError(err).Warn("process_immediately: sending failed; the request stays PENDING for the next processing run")
			}
			// Where the run left it.
			var found bool
			v, found, err = s.request(ctx, v.ID, 0)
			switch {
			case err != nil:
				return &failure{err: err}
			case !found:
				return &failure{err: errVanished}
			}
		}
	}
	c.number = v.Number
	ok(w, view(v))
	return nil
}

// base is the parameter a problem's name is part of: smartcard_identifier for
// smartcard_identifier.id.
func base(param string) string {
	b, _, _ := strings.Cut(param, ".")
	return b
}
