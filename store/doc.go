// Package store is the provisioner's PostgreSQL connection: opening the database,
// applying the schema migrations embedded in package sql (with golang-migrate, through
// a driver of its own whose lock is transaction-level, so that migrate works through
// PgBouncer in transaction pooling mode), and
// checking that a database's schema is the one this binary was built for. The
// packages that own a piece of work (importer, reference, dispatcher) run their own
// statements from package sql through the *DB it returns; Open sizes its pool for
// what the caller runs at once (Options.Conns). RequestValues encodes a resolved
// request as the columns the importer and the Web API both write. It holds no
// business rules.
package store
