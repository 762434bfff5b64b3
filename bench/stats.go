package main

import "sort"

// spread is the median, minimum and maximum of a metric over runs.
type spread struct {
	med, lo, hi float64
	n           int // runs it summarises; 0 means no data
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// collect returns f of every element of runs.
func collect[T any](runs []T, f func(T) float64) []float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return xs
}
