package simulator

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provisioner/provisioner/casapi"
)

// benchCards is how many smartcards (and STBs) benchBody's commands name.
const benchCards = 50000

// BenchmarkHandleBatch is one POST /v1/batches of n fresh commands through
// ServeHTTP, no network: the simulator's own CPU per batch, decoding,
// processing and encoding the answer.
func BenchmarkHandleBatch(b *testing.B) {
	known := Known{}
	for i := range benchCards {
		known.Smartcards = append(known.Smartcards, fmt.Sprintf("SC%010d", i))
		known.STBs = append(known.STBs, fmt.Sprintf("STB%010d", i))
	}
	for p := range 40 {
		known.Products = append(known.Products, fmt.Sprintf("P-%d", 1000+p))
	}
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			sim := New(Config{Token: testToken, DestinationID: testDest, Seed: 1}, known)
			defer sim.Close()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				body := benchBody(b, n, i*n+1)
				req := httptest.NewRequest(http.MethodPost, casapi.PathBatches, bytes.NewReader(body))
				req.Header.Set(casapi.HeaderAuthorization, casapi.BearerPrefix+testToken)
				req.Header.Set(casapi.HeaderDestinationID, testDest)
				rec := httptest.NewRecorder()
				b.StartTimer()
				sim.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("got %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
