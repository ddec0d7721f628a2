package store

import (
	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
)

// RequestValues are the values of a resolved request's own columns, in the order
// that sql/queries/copy_requests.sql (the importer) and insert_requests.sql (the Web
// API) share: a request created through the API gets exactly the fields of one
// imported from a file. They live here, with the database's encodings (NULL for
// what is not given, PostgreSQL arrays), so that package provisioning stays free of
// them and the Web API need not import the importer.
func RequestValues(r *provisioning.Resolved) []any {
	return []any{
		string(r.Type), string(r.Priority), r.ScheduledDate, r.ProcessImmediately,
		nullInt(r.SubscriptionID), r.SmartcardCAID, nullArray(r.ServiceCAIDs),
		nullString(r.STBCAID), nullString(r.PIN), nullString(r.Reference),
	}
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullArray(a []string) any {
	if len(a) == 0 {
		return nil
	}
	return pq.StringArray(a)
}
