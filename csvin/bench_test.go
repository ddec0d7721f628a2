package csvin

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"sync"
	"testing"
)

const benchRows = 100_000

// benchData is a 100,000-row, 10-column file shaped like an instruction file: mostly
// short ASCII values, some quoted fields with commas, some non-ASCII names, CRLF.
var benchData = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBFaction,smartcard,stb,product,ca_id,subscription,name,city,start,note\r\n")
	for i := 0; i < benchRows; i++ {
		fmt.Fprintf(&b, "ADD,SC%010d,STB%08d,PRD%04d,%d,SUB%07d,", i, i*7, i%500, 100000+i%9000, i/3)
		if i%5 == 0 {
			fmt.Fprintf(&b, "\"Müller, Jürgen %d\"", i)
		} else {
			fmt.Fprintf(&b, "Customer %d", i)
		}
		fmt.Fprintf(&b, ",São Paulo,2026-01-%02d,", 1+i%28)
		if i%10 == 0 {
			b.WriteString(`"said ""ok"", twice"`)
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
})

func BenchmarkReader(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		if _, err := r.Header(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEncodingCSV is the baseline: plain encoding/csv on the same bytes, without
// validation, so the cost of BenchmarkReader's guarantees is visible.
func BenchmarkEncodingCSV(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cr := csv.NewReader(bytes.NewReader(data))
		n := -1 // the header
		for {
			_, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
