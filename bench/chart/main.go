// Command chart draws the charts of a benchmark report: it reads a JSON
// array of chartspec.Chart from stdin and writes each as a PNG file into
// -dir. The bench orchestrator runs it (go run ./chart) after the runs; it
// is a command of its own so that the plotting library and its fonts never
// load in the orchestrator's binary, which is also every server's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoalnet/shoal/bench/internal/chartspec"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the PNG files into")
	flag.Parse()
	var charts []chartspec.Chart
	if err := json.NewDecoder(os.Stdin).Decode(&charts); err != nil {
		fmt.Fprintln(os.Stderr, "chart: reading the charts from stdin:", err)
		os.Exit(2)
	}
	failed := false
	for _, c := range charts {
		if err := render(c, filepath.Join(*dir, c.File)); err != nil {
			fmt.Fprintf(os.Stderr, "chart: %s: %v\n", c.File, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
