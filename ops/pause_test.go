package ops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

// TestPauseQueue: a queue paused while a run sends lets it send and write back
// what it claimed, and claim nothing more; a run started while the queue is paused
// claims nothing; once resumed, a run sends the rest. status shows the pause.
func TestPauseQueue(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	const cards, perCard = 30, 5
	var cardIDs []string
	var reqs []pgtest.RequestOpts
	for c := 0; c < cards; c++ {
		card := fmt.Sprintf("40000000%02d", c)
		cardIDs = append(cardIDs, card)
		for i := 0; i < perCard; i++ {
			reqs = append(reqs, pgtest.RequestOpts{Smartcard: card})
		}
	}
	pgtest.Requests(t, db, reqs...)
	sim, d := gateway(t, db, cardIDs, 20*time.Millisecond, dispatcher.Options{BatchSize: 2, Concurrency: 2})

	done := make(chan dispatcher.Summary, 1)
	go func() {
		sum, err := d.Run(ctx)
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- sum
	}()
	deadline := time.Now().Add(30 * time.Second)
	for sim.Stats().Batches < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no batches within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := ops.SetPause(ctx, db, provisioning.PauseQueue, "gateway upgrade", ops.Actor{Operator: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var sum dispatcher.Summary
	select {
	case sum = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not stop within 60s of the pause")
	}
	if !strings.HasSuffix(sum.Paused, ": gateway upgrade") || sum.Claimed != sum.Completed || sum.Lost != 0 || sum.Released != 0 {
		t.Errorf("paused run: %+v: want its claims all completed, and the pause", sum)
	}
	var left, leased int
	if err := db.Get(&left, `SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`); err != nil {
		t.Fatal(err)
	}
	db.Get(&leased, `SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL`)
	if left == 0 || leased != 0 || left+sum.Completed != cards*perCard {
		t.Errorf("after the paused run: %d pending, %d leased, %d completed of %d", left, leased, sum.Completed, cards*perCard)
	}
	st, err := ops.Snapshot(ctx, db, ops.StatusOptions{Now: time.Now()})
	if err != nil || len(st.Paused) != 1 || st.Paused[0].Target != "queue" || st.Paused[0].PausedBy != "alice" || st.Paused[0].Reason != "gateway upgrade" {
		t.Errorf("status paused: %+v %v", st.Paused, err)
	}

	if sum, err := d.Run(ctx); err != nil || sum.Claimed != 0 || sum.Paused == "" {
		t.Errorf("run while paused: %+v %v", sum, err)
	}
	if p, err := ops.Resume(ctx, db, provisioning.PauseQueue, ops.Actor{Operator: "bob"}, time.Now()); err != nil || p == nil || p.PausedBy != "alice" {
		t.Fatalf("resume: %+v %v", p, err)
	}
	if sum, err := d.Run(ctx); err != nil || sum.Completed != left || sum.Paused != "" {
		t.Errorf("run after the resume: %+v %v, want %d completed", sum, err, left)
	}
	if p, err := ops.Resume(ctx, db, provisioning.PauseQueue, ops.Actor{Operator: "bob"}, time.Now()); err != nil || p != nil {
		t.Errorf("resume of what is not paused: %+v %v", p, err)
	}
}
