// Package store is the provisioner's PostgreSQL: opening the database, applying and
// checking the schema migrations, and running the statements of package sql (reference
// data upserts, the importer's bulk lookups, import records and the COPY of new
// requests). It holds no business rules: those live in package provisioning.
package store
