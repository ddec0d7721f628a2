package importer

import (
	"errors"
	"hash/maphash"
	"testing"
)

// TestPreloadedHashes: the maps hold hashes, so a lookup must check the string it
// finds, and a taken hash at build time must be reported (the importer then falls
// back to chunk lookups) rather than shadow an item.
func TestPreloadedHashes(t *testing.T) {
	p := &preloaded{
		arena:    "SC1" + "C1" + "S9",
		items:    []pitem{{serialOff: 0, serialLen: 3, caOff: 3, caLen: 2, subOff: 5, subLen: 2, subID: 9}},
		seed:     maphash.MakeSeed(),
		bySerial: map[uint64]int32{},
		byCAID:   map[uint64]int32{},
	}
	if err := p.index(p.bySerial, "SC1", 0); err != nil {
		t.Fatal(err)
	}
	if err := p.index(p.byCAID, "C1", 0); err != nil {
		t.Fatal(err)
	}
	if it, ok := p.bySerialNumber("SC1"); !ok || it.CAID != "C1" || it.SubscriptionNumber != "S9" || it.SubscriptionID != 9 || it.Kind != "SMARTCARD" {
		t.Errorf("SC1: %+v %v", it, ok)
	}
	if it, ok := p.byCAIDNumber("C1"); !ok || it.SerialNumber != "SC1" {
		t.Errorf("C1: %+v %v", it, ok)
	}
	// Another key that lands on the same slot (forced) is not SC1's item.
	p.bySerial[maphash.String(p.seed, "OTHER")] = 0
	if _, ok := p.bySerialNumber("OTHER"); ok {
		t.Error("a hash match with another string was taken for the item")
	}
	if err := p.index(p.bySerial, "SC1", 0); !errors.Is(err, errCollision) {
		t.Errorf("index of a taken hash: %v, want errCollision", err)
	}
}
