// Package reference reads the operator's reference data (subscriptions, smartcards,
// STBs and products with their CA ids) from CSV files and upserts it into the
// database. The CAS simulator learns the CA ids the gateway knows from the same files.
//
// A directory holds up to four files, each optional, loaded in this order:
//
//	subscriptions.csv  number, state
//	smartcards.csv     serial_number, alternative_code, ca_id, subscription_number
//	stbs.csv           serial_number, alternative_code, ca_id, subscription_number
//	products.csv       code, alternative_code, classification, ca_id
//
// Column names are case-insensitive and in any order; alternative_code may be left
// out, and so may subscription_number (an item in stock is installed nowhere). A
// subscription_number must name a subscription that exists (loaded earlier in the
// same run, or before). Only products classified SERVICE can be provisioned, and they
// need a ca_id. Files are read through package csvin, so the same encoding and
// quoting rules as for instruction files apply. A file with any bad row loads nothing
// and every bad row is reported with its line; the other files still load.
package reference
