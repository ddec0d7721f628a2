// Package sql holds every SQL statement of the provisioner, as .sql files embedded in
// the binary: the schema migrations under migrations/ (applied by golang-migrate, see
// package store) and the queries under queries/, one statement a file.
//
// Keeping SQL in .sql files rather than in Go strings lets reviewers and DBAs read,
// lint and EXPLAIN it as it is, and keeps one statement in one place.
package sql
