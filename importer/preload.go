package importer

import (
	"context"
	"database/sql"
	"fmt"

	"errors"
	"hash/maphash"
	"unsafe"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Preloading. Checking a row costs PostgreSQL an index probe or two per row (about
// 6 µs): for a million-row file that was more than the COPY itself. When a file names
// a good part of the fleet, reading every installed item once in one sequential pass
// costs a fraction of that. The items are kept compactly: their strings back to back in
// one arena, found through maps of their hashes: about 110 bytes an item, nothing
// allocated per item.

// bytesPerRow is a typical instruction row's size, to guess a file's rows from its size.
const bytesPerRow = 60

// preloadFraction: preload when the file's rows are at least this share of the items.
const preloadFraction = 0.25

// DefaultPreloadMaxItems bounds the fleet the importer will hold in memory (~65 MB).
const DefaultPreloadMaxItems = 600_000

// preloaded is every installed item, for files large enough (see shouldPreload).
type preloaded struct {
	arena    string // every item's strings back to back; never changes once built
	items    []pitem
	seed     maphash.Seed
	bySerial map[uint64]int32 // by the hash of the serial number: half the memory of string keys
	byCAID   map[uint64]int32
}

// pitem locates one item's strings in the arena: 24 bytes an item.
type pitem struct {
	subID                    int64
	serialOff, caOff, subOff uint32
	serialLen, caLen, subLen uint8
	stb                      bool
}

// errCollision: two keys with the same 64-bit hash (odds of about 1e-8 for a
// million items). The importer then looks items up chunk by chunk instead.
var errCollision = errors.New("preload items: hash collision")

func (p *preloaded) str(off uint32, n uint8) string { return p.arena[off : off+uint32(n)] }

func (p *preloaded) item(i int32) provisioning.Item {
	it := &p.items[i]
	kind := provisioning.KindSmartcard
	if it.stb {
		kind = provisioning.KindSTB
	}
	return provisioning.Item{Kind: kind, SerialNumber: p.str(it.serialOff, it.serialLen), CAID: p.str(it.caOff, it.caLen),
		SubscriptionID: it.subID, SubscriptionNumber: p.str(it.subOff, it.subLen)}
}

func (p *preloaded) bySerialNumber(s string) (provisioning.Item, bool) {
	i, ok := p.bySerial[maphash.String(p.seed, s)]
	if !ok || p.str(p.items[i].serialOff, p.items[i].serialLen) != s {
		return provisioning.Item{}, false
	}
	return p.item(i), true
}

func (p *preloaded) byCAIDNumber(c string) (provisioning.Item, bool) {
	i, ok := p.byCAID[maphash.String(p.seed, c)]
	if !ok || p.str(p.items[i].caOff, p.items[i].caLen) != c {
		return provisioning.Item{}, false
	}
	return p.item(i), true
}

// index adds item i under key to m; serial numbers and CA ids are unique, so a
// taken hash is a collision.
func (p *preloaded) index(m map[uint64]int32, key string, i int32) error {
	h := maphash.String(p.seed, key)
	if _, taken := m[h]; taken {
		return errCollision
	}
	m[h] = i
	return nil
}

// shouldPreload says whether a file of size bytes is worth preloading the items for,
// and how many items there are.
func (im *Importer) shouldPreload(ctx context.Context, size int64) (bool, int64, error) {
	if im.opts.PreloadMaxItems < 0 {
		return false, 0, nil
	}
	var items int64
	if err := im.db.GetContext(ctx, &items, provsql.CountItems); err != nil {
		return false, 0, fmt.Errorf("count items: %w", err)
	}
	rows := size / bytesPerRow
	ok := items > 0 && items <= int64(im.opts.PreloadMaxItems) && float64(rows) >= preloadFraction*float64(items)
	return ok, items, nil
}

// preload reads every installed item; expected sizes the memory up front, so that
// nothing is copied while growing.
func preload(ctx context.Context, db *store.DB, expected int64) (*preloaded, error) {
	rows, err := db.QueryContext(ctx, provsql.AllItems)
	if err != nil {
		return nil, fmt.Errorf("preload items: %w", err)
	}
	defer rows.Close()
	expected += expected/16 + 64 // the count is an estimate
	buf := make([]byte, 0, expected*40)
	items := make([]pitem, 0, expected)
	add := func(b []byte) (uint32, uint8, error) {
		if len(b) > 255 || len(buf)+len(b) > 1<<32-1 {
			return 0, 0, fmt.Errorf("preload items: a value of %d bytes, or over 4 GB in all", len(b))
		}
		off := uint32(len(buf))
		buf = append(buf, b...)
		return off, uint8(len(b)), nil
	}
	for rows.Next() {
		// RawBytes: the driver's memory, reused; copied into the arena only.
		var kind, serial, ca, sub sql.RawBytes
		var it pitem
		if err := rows.Scan(&kind, &serial, &ca, &it.subID, &sub); err != nil {
			return nil, fmt.Errorf("preload items: %w", err)
		}
		it.stb = string(kind) == provisioning.KindSTB
		var err error
		if it.serialOff, it.serialLen, err = add(serial); err != nil {
			return nil, err
		}
		if it.caOff, it.caLen, err = add(ca); err != nil {
			return nil, err
		}
		if it.subOff, it.subLen, err = add(sub); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("preload items: %w", err)
	}
	p := &preloaded{items: items, seed: maphash.MakeSeed(),
		bySerial: make(map[uint64]int32, len(items)), byCAID: make(map[uint64]int32, len(items))}
	if len(buf) > 0 {
		// The arena is never written again: a string over it saves a copy of it.
		p.arena = unsafe.String(&buf[0], len(buf))
	}
	for i := range items {
		it := &items[i]
		if err := p.index(p.bySerial, p.str(it.serialOff, it.serialLen), int32(i)); err != nil {
			return nil, err
		}
		if err := p.index(p.byCAID, p.str(it.caOff, it.caLen), int32(i)); err != nil {
			return nil, err
		}
	}
	return p, nil
}
