// Package chartspec describes the charts of a benchmark report: what the
// orchestrator hands, as JSON, to the chart command (bench/chart), which
// draws them. The orchestrator does not draw them itself, so that the
// plotting library and its fonts stay out of the server processes it
// starts from its own binary (parsing the fonts at start-up would add a
// few MiB to every server's RSS).
package chartspec

// Chart is one PNG: a title, a legend of the series of its first panel and
// its panels side by side.
type Chart struct {
	File   string  `json:"file"` // file name in the output directory
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is one grouped bar chart: for every group on the X axis, one bar
// per series.
type Panel struct {
	Title  string   `json:"title"`
	YLabel string   `json:"ylabel"`
	Groups []string `json:"groups"`
	Series []Series `json:"series"`
}

// Series is one engine's bars in a panel, one per group.
type Series struct {
	Name string `json:"name"`
	Bars []Bar  `json:"bars"`
}

// Bar is the median of a figure over runs with its minimum and maximum
// (drawn as a whisker when Runs > 1). Runs == 0 means no data: no bar.
type Bar struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}
