package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shoalnet/shoal/bench/internal/chartspec"
)

// Chart geometry and colours.
const (
	chartHeight = 4 * vg.Inch
	headHeight  = 0.65 * vg.Inch // title and legend above the panels
	chartDPI    = 110
)

// engineColors keeps an engine's colour the same in every chart.
var engineColors = map[string]color.Color{
	"shoal":   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"stdnet":  color.RGBA{R: 0x8c, G: 0x8c, B: 0x8c, A: 0xff},
	"gnet":    color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	"nbio":    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"netpoll": color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	"nethttp": color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

func engineColor(name string, i int) color.Color {
	if c, ok := engineColors[name]; ok {
		return c
	}
	return plotutil.Color(i)
}

// panelWidth gives every bar about a quarter of an inch, and a panel at
// least 3.2 inches and room for its title.
func panelWidth(p chartspec.Panel) vg.Length {
	bars := vg.Inch + 0.28*vg.Inch*vg.Length(len(p.Groups)*len(p.Series))
	return max(3.2*vg.Inch, bars, panelTitleStyle().Width(p.Title)+0.8*vg.Inch)
}

func panelTitleStyle() draw.TextStyle {
	s := plot.New().Title.TextStyle
	s.Font.Size = vg.Points(11)
	return s
}

// render draws c and writes it as a PNG to path.
func render(c chartspec.Chart, path string) error {
	if len(c.Panels) == 0 {
		return errors.New("no panels")
	}
	w := vg.Length(0)
	for _, p := range c.Panels {
		w += panelWidth(p)
	}
	w = max(w, headWidth(c)+vg.Points(20))
	img := vgimg.NewWith(vgimg.UseWH(w, chartHeight), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)
	drawHead(dc, c)

	body := dc
	body.Max.Y -= headHeight
	plots := make([]*plot.Plot, len(c.Panels))
	for i, p := range c.Panels {
		plots[i] = panelPlot(p)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(12), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadBottom: vg.Points(4)}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, body)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// headStyles returns the text styles of the title and of the legend.
func headStyles() (title, legend draw.TextStyle) {
	title = plot.New().Title.TextStyle
	title.XAlign, title.YAlign = draw.XLeft, draw.YTop
	legend = title
	legend.Font.Size = vg.Points(10)
	legend.YAlign = draw.YCenter
	return title, legend
}

const swatch = 10 // legend swatch side, points

// headWidth is the width of the title or of the legend, whichever is wider.
func headWidth(c chartspec.Chart) vg.Length {
	title, legend := headStyles()
	var w vg.Length
	for _, s := range c.Panels[0].Series {
		w += vg.Points(swatch+4+14) + legend.Width(s.Name)
	}
	return max(w, title.Width(c.Title))
}

// drawHead draws the title of c and, below it, a legend with one swatch
// per series of its first panel.
func drawHead(dc draw.Canvas, c chartspec.Chart) {
	title, legend := headStyles()
	x0 := dc.Min.X + vg.Points(10)
	y := dc.Max.Y - vg.Points(8)
	dc.FillText(title, vg.Point{X: x0, Y: y}, c.Title)

	y -= title.Height(c.Title) + vg.Points(12)
	sw := vg.Points(swatch)
	x := x0
	for i, s := range c.Panels[0].Series {
		dc.FillPolygon(engineColor(s.Name, i), []vg.Point{
			{X: x, Y: y - sw/2}, {X: x, Y: y + sw/2}, {X: x + sw, Y: y + sw/2}, {X: x + sw, Y: y - sw/2},
		})
		x += sw + vg.Points(4)
		dc.FillText(legend, vg.Point{X: x, Y: y}, s.Name)
		x += legend.Width(s.Name) + vg.Points(14)
	}
}

// panelPlot builds the plot of one panel.
func panelPlot(p chartspec.Panel) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Title.TextStyle = panelTitleStyle()
	pl.Y.Label.Text = p.YLabel
	pl.Y.Label.TextStyle.Font.Size = vg.Points(10)
	pl.Y.Tick.Marker = countTicks{}
	pl.NominalX(p.Groups...)
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	pl.Add(grid, &groupedBars{p: p})
	pl.Y.Min = 0
	pl.Y.Max = yMax(p)
	return pl
}

// yMax is the top of the Y axis: room above the highest median and its
// whisker for the labels, but a whisker that reaches beyond one and a half
// times the highest median (one run far off the others) is cut off rather
// than squeezing every bar.
func yMax(p chartspec.Panel) float64 {
	var med, hi float64
	for _, s := range p.Series {
		for _, v := range s.Bars {
			if v.Runs > 0 {
				med, hi = max(med, v.Median), max(hi, v.Max)
			}
		}
	}
	if med == 0 {
		return 1
	}
	return max(med, min(hi, 1.5*med)) * 1.2
}

// countTicks labels the Y axis like the tables: 150k, 2.31M.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtTick(ts[i].Value)
		}
	}
	return ts
}

func fmtTick(x float64) string {
	switch {
	case x >= 1e6:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x/1e6), "0"), ".") + "M"
	case x >= 1e3:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", x/1e3), "0"), ".") + "k"
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
	}
}

// fmtValue writes the median above a bar with three significant digits:
// 0.31, 7.7, 4751, 157k, 2.31M.
func fmtValue(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.3gk", x/1e3)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.3g", x)
	}
}

// groupedBars draws the bars of a panel: group i is centred on x = i, its
// bars side by side in series order, each with a min–max whisker and its
// median written above it.
type groupedBars struct{ p chartspec.Panel }

func (g *groupedBars) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, trY := pl.Transforms(&c)
	n := len(g.p.Series)
	if n == 0 {
		return
	}
	groupW := (trX(1) - trX(0)) * 0.8
	if len(g.p.Groups) == 1 {
		groupW = (c.Max.X - c.Min.X) * 0.6
	}
	barW := groupW / vg.Length(n)
	whisker := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	label := plot.New().Title.TextStyle
	label.Font.Size = vg.Points(7)
	label.Rotation = math.Pi / 2
	label.XAlign, label.YAlign = draw.XLeft, draw.YCenter
	for si, s := range g.p.Series {
		fill := engineColor(s.Name, si)
		for gi, v := range s.Bars {
			if v.Runs == 0 {
				continue
			}
			left := trX(float64(gi)) - groupW/2 + barW*vg.Length(si)
			mid := left + barW/2
			bottom, top := trY(0), trY(v.Median)
			c.FillPolygon(fill, []vg.Point{
				{X: left + barW*0.05, Y: bottom}, {X: left + barW*0.05, Y: top},
				{X: left + barW*0.95, Y: top}, {X: left + barW*0.95, Y: bottom},
			})
			at := vg.Point{X: mid, Y: top + vg.Points(2)}
			if v.Runs > 1 && v.Max > v.Min {
				lo, hi := trY(v.Min), trY(v.Max)
				cw := barW * 0.2
				c.StrokeLine2(whisker, mid-cw, lo, mid+cw, lo)
				if v.Max <= pl.Y.Max {
					c.StrokeLine2(whisker, mid, lo, mid, hi)
					c.StrokeLine2(whisker, mid-cw, hi, mid+cw, hi)
					at.Y = max(at.Y, hi+vg.Points(2))
				} else {
					// Cut off at the top, without a cap; the label moves
					// beside it.
					c.StrokeLine2(whisker, mid, lo, mid, c.Max.Y)
					at.X += vg.Points(5)
				}
			}
			c.FillText(label, at, fmtValue(v.Median))
		}
	}
}

// DataRange implements plot.DataRanger: the groups on X, 0 to the highest
// whisker on Y (panelPlot sets the axis itself, see yMax).
func (g *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, s := range g.p.Series {
		for _, v := range s.Bars {
			if v.Runs > 0 {
				ymax = max(ymax, v.Max)
			}
		}
	}
	return -0.5, float64(len(g.p.Groups)) - 0.5, 0, ymax
}
