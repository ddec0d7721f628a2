package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/provisioner/provisioner/casapi"
)

// decodeBatch reads a POST /v1/batches body as decodeBatchStrict does, and
// answers exactly what it answers, the Batch or the error.
//
// There are two paths because the strict one parses the body several times
// over (a map of raw values, then the array, then a map per command, then each
// field), which made it the simulator's largest CPU cost in the processing
// run's benchmark, where the simulator shares the machine with the run and
// PostgreSQL. decodeBatchFast scans the body once, but only for the shape a
// well-behaved client sends (plain ASCII strings without escapes, each field
// once, nothing else); on anything else it gives up and the strict path
// decodes the body, so what is accepted and every error text stay those of
// the strict path by construction. FuzzDecodeBatch checks that the two agree.
func decodeBatch(body []byte) (casapi.Batch, error) {
	if b, ok := decodeBatchFast(body); ok {
		return b, nil
	}
	return decodeBatchStrict(body)
}

// decodeBatchStrict reads a POST /v1/batches body as strictly as the page reads:
// exact field names, the right JSON types, nothing after the object, and no
// field that the command's type does not take, even present empty or null
// (encoding/json alone would match names case-insensitively and could not
// tell an absent field from an empty one). The error wraps casapi.ErrTooMany
// for more than 500 commands (413) and is otherwise a 400.
func decodeBatchStrict(body []byte) (casapi.Batch, error) {
	var b casapi.Batch
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return b, fmt.Errorf("body: not a JSON object: %v", err)
	}
	if top == nil {
		return b, errors.New("body: not a JSON object")
	}
	for _, k := range sortedKeys(top) {
		if k != "batch_id" && k != "commands" {
			return b, fmt.Errorf("unknown field %q", k)
		}
	}
	if raw, ok := top["batch_id"]; ok {
		if err := json.Unmarshal(raw, &b.BatchID); err != nil {
			return b, errors.New("batch_id: must be a string")
		}
	}
	var raws []json.RawMessage
	if raw, ok := top["commands"]; ok {
		if err := json.Unmarshal(raw, &raws); err != nil {
			return b, errors.New("commands: must be an array")
		}
	}
	if len(raws) > casapi.MaxBatch {
		// Counted before anything else: the page answers it with 413
		// whatever else is wrong with the batch.
		return b, casapi.Batch{Commands: make([]casapi.Command, len(raws))}.Validate()
	}
	b.Commands = make([]casapi.Command, len(raws))
	present := make([]map[string]bool, len(raws))
	for i, raw := range raws {
		c, keys, err := decodeCommand(raw)
		if err != nil {
			return b, fmt.Errorf("command %d: %w", i, err)
		}
		b.Commands[i], present[i] = c, keys
	}
	if err := b.Validate(); err != nil {
		return b, err
	}
	for i, c := range b.Commands {
		for _, field := range []string{"products", "stb", "pin"} {
			if present[i][field] && !casapi.Takes(c.Type, field) {
				return b, fmt.Errorf("command %d (command_id %q): %s: not taken by %s, must be absent", i, c.CommandID, field, c.Type)
			}
		}
	}
	return b, nil
}

// decodeCommand decodes one command and says which fields were present.
func decodeCommand(raw json.RawMessage) (casapi.Command, map[string]bool, error) {
	var c casapi.Command
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return c, nil, errors.New("not a JSON object")
	}
	present := make(map[string]bool, len(fields))
	// Sorted, so that of several faults the same one is named every time.
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		present[k] = true
		var dst any
		switch k {
		case "command_id":
			dst = &c.CommandID
		case "type":
			dst = &c.Type
		case "smartcard":
			dst = &c.Smartcard
		case "stb":
			dst = &c.STB
		case "pin":
			dst = &c.PIN
		case "products":
			dst = &c.Products
		default:
			return c, nil, fmt.Errorf("unknown field %q", k)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			if k == "products" {
				return c, nil, errors.New("products: must be an array of strings")
			}
			return c, nil, fmt.Errorf("%s: must be a string", k)
		}
	}
	return c, present, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}
