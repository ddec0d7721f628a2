package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lib/pq"
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
		look, err := s.lookups.do(r.Context(), &d)
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
// (insert_requests.sql) and returns the request: a call that sends nothing makes
// this one statement after the lookups, shared with the calls of its batch.
func (s *Server) write(w http.ResponseWriter, r *http.Request, c *call, res *provisioning.Resolved) *failure {
	ctx := r.Context()
	v, err := s.inserts.do(ctx, toInsert{res, c.tokenHash})
	switch {
	case errors.Is(err, errRevoked):
		// The token was revoked since it was checked: nothing was created.
		s.tokens.forget(c.tokenHash)
		return errUnauthorized
	case store.IsUniqueViolation(err, "provisioning_requests_reference"):
		// Another call with the same reference won the race since the lookup.
		return refused([]apiProblem{{pReference, provisioning.CodeDuplicateReference, "reference " + res.Reference + " is already used by another request"}})
	case err != nil:
		return &failure{err: err}
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

// toInsert is one call's request, for the batch that writes it.
type toInsert struct {
	res       *provisioning.Resolved
	tokenHash string // the call's token: the insert checks it again
}

// errRevoked: the call's token was revoked since it was checked, and its request
// was not created.
var errRevoked = errors.New("token revoked since checked")

// lookUpBatch reads what the drafts of one batch name, in one statement: each call
// resolves its own draft against what was found.
func (s *Server) lookUpBatch(ctx context.Context, jobs []*batchJob[*provisioning.Draft, *callLookup]) {
	drafts := make([]*provisioning.Draft, len(jobs))
	for i, j := range jobs {
		drafts[i] = j.in
	}
	l, err := lookUp(ctx, s.db, drafts...)
	for _, j := range jobs {
		j.out, j.err = l, err
	}
}

// insertBatch creates the requests of one batch in one statement and one commit.
// If PostgreSQL refuses it (a reference taken meanwhile, by a call of the same
// batch or another), nothing of it was created and each is written again on its
// own, so that a row that fails fails only its own call. Any other failure (the
// connection lost) may have come after the commit: each call then gets the error,
// as a lone call would, and none is written again, which could create it twice.
func (s *Server) insertBatch(ctx context.Context, jobs []*batchJob[toInsert, ops.Request]) {
	if len(jobs) == 1 {
		s.insertRows(ctx, jobs)
		return
	}
	if err := s.insertRows(ctx, jobs); err == nil || !refusedByServer(err) {
		return
	}
	for i := range jobs {
		s.insertRows(ctx, jobs[i:i+1])
	}
}

// refusedByServer reports whether err is PostgreSQL's answer to a statement it
// refused: the statement, run on its own, then committed nothing.
func refusedByServer(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe)
}

// insertRows runs insert_requests.sql for jobs, sets each one's outcome, and
// returns the statement's error.
func (s *Server) insertRows(ctx context.Context, jobs []*batchJob[toInsert, ops.Request]) error {
	args := make([]any, 0, len(jobs)*provsql.InsertRequestsColumns)
	for i, j := range jobs {
		args = append(append(append(args, int64(i)), store.RequestValues(j.in.res)...), j.in.tokenHash)
	}
	got, err := ops.ScanKeyed(ctx, s.db, provsql.InsertRequests(len(jobs)), args...)
	for i, j := range jobs {
		v, found := got[int64(i)]
		switch {
		case err != nil:
			j.err = fmt.Errorf("create request: %w", err)
		case !found:
			j.err = errRevoked
		default:
			j.out, j.err = v, nil
		}
	}
	return err
}
