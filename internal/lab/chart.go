package lab

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ErrChartFormat reports a chart file name whose extension is neither .png
// nor .svg.
var ErrChartFormat = errors.New("chart format")

// errBars is the min..max range of each row's runs around its median, in the
// shape plotter.NewYErrorBars takes.
type errBars struct {
	plotter.XYs
	plotter.YErrors
}

// WriteChart draws the rows' median rates as bars (receivers blue, generators
// grey) with their min..max range as error bars, and saves the chart to path:
// PNG or SVG by the extension. Rows without runs are left out.
func (rep *Report) WriteChart(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg":
	default:
		return fmt.Errorf("%w: %s: the name must end in .png or .svg", ErrChartFormat, path)
	}
	var rows []Row
	for _, r := range rep.Rows {
		if len(r.Runs) > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return errors.New("chart: no row has a measurement")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("64-byte frames per second (median of %d, min-max bars)", rep.Runs)
	p.Y.Label.Text = "Mpps"
	p.Y.Min = 0
	names := make([]string, len(rows))
	width := vg.Points(22)
	bars := errBars{XYs: make(plotter.XYs, len(rows)), YErrors: make(plotter.YErrors, len(rows))}
	for i, r := range rows {
		names[i] = r.Name
		// One bar chart per row keeps the colours per kind simple:
		// every chart holds the other rows as zero-height bars.
		vals := make(plotter.Values, len(rows))
		vals[i] = r.PPSMedian / 1e6
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("chart %s: %w", r.Name, err)
		}
		b.LineStyle.Width = 0
		b.Color = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
		if r.Kind == Generator {
			b.Color = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
		}
		p.Add(b)
		bars.XYs[i] = plotter.XY{X: float64(i), Y: r.PPSMedian / 1e6}
		bars.YErrors[i] = struct{ Low, High float64 }{
			Low: (r.PPSMedian - r.PPSMin) / 1e6, High: (r.PPSMax - r.PPSMedian) / 1e6}
	}
	eb, err := plotter.NewYErrorBars(bars)
	if err != nil {
		return fmt.Errorf("chart error bars: %w", err)
	}
	eb.CapWidth = width / 2
	p.Add(eb)
	p.NominalX(names...)
	w := vg.Points(float64(60 + 50*len(rows)))
	if err := p.Save(w, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("save chart: %w", err)
	}
	return nil
}
