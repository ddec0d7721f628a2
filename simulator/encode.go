package simulator

import (
	"net/http"

	"github.com/provisioner/provisioner/casapi"
)

// writeBatchResult writes the 200 answer as writeJSON would, byte for byte.
// Encoding it by hand costs a fraction of encoding/json's reflection, which
// came next in the simulator's profile once decoding was cheap; any string
// that json.Marshal would escape sends the answer to writeJSON instead.
func writeBatchResult(w http.ResponseWriter, res casapi.BatchResult) {
	body, ok := appendBatchResult(make([]byte, 0, 64+88*len(res.Results)), res)
	if !ok {
		writeJSON(w, http.StatusOK, res)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// appendBatchResult appends what json.Marshal(r) returns, or reports false
// when a string holds a byte that json.Marshal escapes or might (anything but
// printable ASCII, '"', '\\', and the HTML characters '<', '>', '&'); what
// it appended then is to be thrown away.
func appendBatchResult(dst []byte, r casapi.BatchResult) ([]byte, bool) {
	if r.Results == nil {
		// json.Marshal writes null; not worth a case of its own.
		return dst, false
	}
	ok := true
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				ok = false
			}
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	}
	dst = append(dst, `{"batch_id":`...)
	str(r.BatchID)
	dst = append(dst, `,"results":[`...)
	for i, res := range r.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"command_id":`...)
		str(res.CommandID)
		dst = append(dst, `,"status":`...)
		str(res.Status)
		if res.Reference != "" {
			dst = append(dst, `,"reference":`...)
			str(res.Reference)
		}
		if res.ErrorCode != "" {
			dst = append(dst, `,"error_code":`...)
			str(res.ErrorCode)
		}
		if res.ErrorDescription != "" {
			dst = append(dst, `,"error_description":`...)
			str(res.ErrorDescription)
		}
		if res.Replayed {
			dst = append(dst, `,"replayed":true`...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, "]}"...)
	return dst, ok
}
