// Package samplegen writes synthetic operator data for benchmarks and tests: a
// reference-data directory (subscriptions.csv, smartcards.csv, stbs.csv, products.csv,
// in the formats of package reference) and an instruction file whose every row the
// importer accepts against that reference data.
//
// The instruction file covers every action in roughly the proportions an operator's
// nightly batch has them: mostly add_services and cancel_services, some pairing and
// unpairing, PIN resets, set_pin with valid PINs, smartcard resets; a few EXPRESS rows,
// some with a scheduled_date, a few with a (unique) reference; most name the smartcard
// by serial number, some by CA id. The reference data is sized like an operator's:
// by default one subscription for every four instruction rows, each with one
// smartcard and one STB, plus a few items in stock and a catalogue of 40 services and
// a few products that are not services.
//
// Output is a function of Config alone (the same Seed gives the same bytes), and it is
// streamed: memory does not grow with the number of rows.
package samplegen
