package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
)

// HeaderRequestID names a call in both the caller's logs and ours: the caller's
// value when it is sane, one of ours otherwise.
const HeaderRequestID = "X-Request-Id"

// saneRequestID is what a caller's id may be: short, and nothing a log or a
// terminal could misread (no spaces, quotes or control characters).
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,128}$`)

type requestIDKey struct{}

// withRequestID sets the X-Request-Id of every answer before h runs, so that even
// an answer h does not write itself carries it, and hands it to h in the context.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if len(r.Header.Values(HeaderRequestID)) != 1 || !saneRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// requestID is the X-Request-Id of the call of ctx.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID is 128 random bits in hex.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
