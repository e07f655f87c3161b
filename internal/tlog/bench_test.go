package tlog

import (
	"fmt"
	"testing"
)

// BenchmarkAppend measures sequential appends, each durable and returning
// an inclusion proof and a signed checkpoint.
func BenchmarkAppend(b *testing.B) {
	l := openTestLog(b, b.TempDir())
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := l.Append(record(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendParallel measures concurrent appends, which the log
// commits in groups (one set of syncs per group).
func BenchmarkAppendParallel(b *testing.B) {
	l := openTestLog(b, b.TempDir())
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := l.Append(fmt.Appendf(nil, "parallel %p %d\n", pb, i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendBatch measures explicit batches of 256 records.
func BenchmarkAppendBatch(b *testing.B) {
	l := openTestLog(b, b.TempDir())
	batch := make([][]byte, 256)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			batch[i] = record(n)
			n++
		}
		if _, _, err := l.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "appends/s")
}
