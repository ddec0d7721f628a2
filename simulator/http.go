package simulator

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
)

// maxBody bounds a batch body. 500 commands of 64 products with ids of a few
// dozen characters stay far below it.
const maxBody = 8 << 20

// ServeHTTP serves the vendor's /v1/ interface and the simulator's /sim/ one.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Simulator) routes() http.Handler {
	v1 := http.NewServeMux()
	v1.HandleFunc("POST "+casapi.PathBatches, s.handleBatch)
	v1.HandleFunc("GET "+casapi.PathSmartcards+"{smartcard}", s.handleSmartcard)
	v1.HandleFunc("GET "+casapi.PathHealth, s.handleHealth)
	if !s.cfg.NoQuery {
		v1.HandleFunc("POST "+casapi.PathQuery, s.handleQuery)
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	root.HandleFunc("GET /sim/log", func(w http.ResponseWriter, r *http.Request) {
		log := s.AppliedLog()
		if log == nil {
			log = []AppliedEntry{}
		}
		writeJSON(w, http.StatusOK, log)
	})
	root.HandleFunc("POST /sim/drift/{smartcard}", s.handleDrift)
	root.HandleFunc("POST /sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	root.Handle("/", s.counted(s.authenticated(v1)))
	return root
}

// counted records the status of every answer written under /v1/.
func (s *Simulator) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != 0 {
			s.mu.Lock()
			s.stats.HTTPStatus[rec.status]++
			s.mu.Unlock()
		}
	})
}

// authenticated answers 401 for a missing or wrong token and 403 for an
// unknown destination, before anything else is looked at.
func (s *Simulator) authenticated(next http.Handler) http.Handler {
	want := []byte(casapi.BearerPrefix + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get(casapi.HeaderAuthorization))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			drain(w, r)
			writeText(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		if r.Header.Get(casapi.HeaderDestinationID) != s.cfg.DestinationID {
			drain(w, r)
			writeText(w, http.StatusForbidden, "unknown destination")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Simulator) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, casapi.Health{Status: casapi.HealthOK})
}

func (s *Simulator) handleSmartcard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("smartcard")
	st, ok := s.State(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, casapi.ErrorBody{
			ErrorCode:        casapi.ErrCodeUnknownSmartcard,
			ErrorDescription: fmt.Sprintf("smartcard %s is not known", id),
		})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// drain reads what is left of the body before an early answer, so that the
// client is not cut off while still sending and reads the answer instead of
// a broken connection.
func drain(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic("simulator: marshal answer: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// statusRecorder remembers the status written; Unwrap lets
// http.ResponseController reach the Hijacker underneath.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// LogRequests logs every request at debug level: for the cas-simulator command.
func LogRequests(log logrus.FieldLogger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Also when the simulator breaks the connection on purpose
			// (a panic with http.ErrAbortHandler, or a hijack): status none.
			status := "none"
			if rec.status != 0 {
				status = strconv.Itoa(rec.status)
			}
			log.WithFields(logrus.Fields{
				"method": r.Method, "path": r.URL.Path, "status": status,
				"duration": time.Since(start).Round(time.Microsecond).String(),
			}).Debug("request")
		}()
		next.ServeHTTP(rec, r)
	})
}
