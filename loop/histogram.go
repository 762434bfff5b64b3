package loop

import (
	"sync/atomic"
	"time"
)

// Histogram is a snapshot of a fixed-bucket histogram.
type Histogram struct {
	Bounds []float64 // upper bounds of the buckets, ascending; a last +Inf bucket follows
	Counts []uint64  // observations per bucket, len(Bounds)+1, not cumulative
	Sum    float64   // sum of the observations
	Count  uint64    // number of observations
}

// histogram records observations into fixed buckets without locks. It is
// written by one loop goroutine and read by Stats from any goroutine.
type histogram struct {
	bounds []int64 // upper bounds in the unit of the observations
	scale  float64 // multiplies bounds and sum in snapshots (ns to seconds)
	counts []atomic.Uint64
	sum    atomic.Int64
	count  atomic.Uint64
}

func newHistogram(scale float64, bounds ...int64) *histogram {
	return &histogram{bounds: bounds, scale: scale, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v int64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{
		Bounds: make([]float64, len(h.bounds)),
		Counts: make([]uint64, len(h.counts)),
		Sum:    float64(h.sum.Load()) * h.scale,
		Count:  h.count.Load(),
	}
	for i, b := range h.bounds {
		s.Bounds[i] = float64(b) * h.scale
	}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

const us = int64(time.Microsecond)

// newIterationHistogram buckets loop iteration durations, from 1µs to 100ms.
func newIterationHistogram() *histogram {
	return newHistogram(1e-9, 1*us, 2*us, 5*us, 10*us, 20*us, 50*us, 100*us, 200*us, 500*us,
		1000*us, 5000*us, 20000*us, 100000*us)
}

// newEventsHistogram buckets the number of events per wake-up.
func newEventsHistogram() *histogram {
	return newHistogram(1, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
}
