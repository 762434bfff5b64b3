package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalnet/shoal/bench/internal/chartspec"
)

func TestRenderPNG(t *testing.T) {
	bars := func(med float64) []chartspec.Bar {
		return []chartspec.Bar{{Median: med, Min: med * 0.9, Max: med * 1.1, Runs: 3}, {Median: med / 2, Min: med / 2, Max: med / 2, Runs: 1}, {}}
	}
	c := chartspec.Chart{
		File:  "fake.png",
		Title: "echo: messages per server CPU-second (higher is better)",
		Panels: []chartspec.Panel{
			{Title: "pipeline depth 1", YLabel: "msgs per server CPU-s", Groups: []string{"100 conns, 64 B", "1000 conns, 64 B", "no data"},
				Series: []chartspec.Series{{Name: "shoal", Bars: bars(150e3)}, {Name: "other", Bars: bars(120e3)}}},
			{Title: "pipeline depth 16", YLabel: "msgs per server CPU-s", Groups: []string{"100 conns, 64 B", "1000 conns, 64 B", "no data"},
				Series: []chartspec.Series{{Name: "shoal", Bars: bars(2.3e6)}, {Name: "other", Bars: bars(2e6)}}},
		},
	}
	path := filepath.Join(t.TempDir(), c.File)
	if err := render(c, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
		t.Errorf("image is %v, too small", b)
	}
}

func TestRenderNoPanels(t *testing.T) {
	if err := render(chartspec.Chart{File: "x.png"}, filepath.Join(t.TempDir(), "x.png")); err == nil {
		t.Error("a chart without panels rendered")
	}
}

func TestFmtValue(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0.31, "0.31"},
		{7.7, "7.7"},
		{4751.4, "4751"},
		{156700, "157k"},
		{2310000, "2.31M"},
	}
	for _, tt := range tests {
		if got := fmtValue(tt.x); got != tt.want {
			t.Errorf("fmtValue(%v) = %q, want %q", tt.x, got, tt.want)
		}
	}
}
