package main

import (
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-1", []int{0, 1}},
		{"0-3,6,8-9", []int{0, 1, 2, 3, 6, 8, 9}},
	} {
		got, err := parseCPUList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, _ := parseCPUList(cpuList(got)); !slices.Equal(back, tc.want) {
			t.Errorf("cpuList(%v) = %q does not parse back", got, cpuList(got))
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-", "-1", "0,,1"} {
		if got, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSplitCPUs(t *testing.T) {
	for _, tc := range []struct {
		cpus, server, client []int
	}{
		{[]int{0, 1}, []int{0}, []int{1}},
		{[]int{0, 1, 2}, []int{0, 1}, []int{2}},
		{[]int{2, 3, 6, 7}, []int{2, 3}, []int{6, 7}},
	} {
		s, c := splitCPUs(tc.cpus)
		if !slices.Equal(s, tc.server) || !slices.Equal(c, tc.client) {
			t.Errorf("splitCPUs(%v) = %v, %v; want %v, %v", tc.cpus, s, c, tc.server, tc.client)
		}
	}
}
