// Package pgtest gives each test its own PostgreSQL database, migrated to the latest
// schema, on a real server: TEST_DATABASE_URL, or the local server's postgres
// database over TCP. Each database is a copy of a template migrated once per schema
// (CREATE DATABASE ... TEMPLATE), which takes tens of milliseconds, and is dropped when
// the test ends.
//
// Request and Requests insert provisioning requests for a test (a factory, as River's
// testfactory): each states the columns it is about and the rest take their defaults.
// They write SQL against the schema alone, not the engine's Go types: the tests of
// every package import pgtest, so it imports none of theirs.
package pgtest
