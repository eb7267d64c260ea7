//! The run's figures, like the seed chapter's 7-6 and 7-7: training return
//! per episode with its moving average, and the greedy test returns. Drawn
//! as SVG and PNG with an embedded font, so no system library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Episodes in the training curve's moving average.
const WINDOW: usize = 10;
const SIZE: (u32, u32) = (960, 540);
const FONT: &str = "sans-serif";

/// Curve colours, in order (matplotlib's first eight but pink).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// One curve of a figure.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Draw markers at the points (for sparse data) instead of a plain line.
    pub markers: bool,
    /// A shaded band `(x, low, high)` around the curve (e.g. a confidence
    /// interval); empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

/// A figure: title, axis labels and curves.
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Where the legend goes: where the curves are not.
    pub legend: SeriesLabelPosition,
}

pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded DejaVu Sans: plotters' bitmap text needs a font, and
        // asking the system for one would need fontconfig.
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err() {
            eprintln!("warning: the embedded font did not load; PNG text may be missing");
        }
    });
}

fn draw_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    register_font();
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let points = figure.series.iter().flat_map(|s| s.points.iter().copied());
    let band_edges = figure.series.iter().flat_map(|s| s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
    // The axes always hold x = 0 (steps and episodes start there) and
    // y in [0, 1]; a negative x (a return, say) widens the x axis leftwards.
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (0.0f64, 1.0f64, 0.0f64, 1.0f64);
    for (x, y) in points.chain(band_edges).filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let y_pad = (y_max - y_min) * 0.05;
    let (x_range, y_range) = (x_min * 1.02..x_max * 1.02, (y_min - y_pad)..(y_max + y_pad));
    // Values near f64::MAX make an axis whose span overflows to infinity,
    // where plotters would search for tick marks forever.
    if ![x_range.start, x_range.end, y_range.start, y_range.end, y_range.end - y_range.start]
        .iter()
        .all(|v| v.is_finite())
    {
        return Err(format!(
            "{}: values from {y_min:e} to {y_max:e} (x from {x_min:e} to {x_max:e}) are too large to draw",
            figure.title
        ));
    }
    let mut chart = ChartBuilder::on(root)
        .caption(&figure.title, (FONT, 26))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range, y_range)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .label_style((FONT, 16))
        .axis_desc_style((FONT, 18))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|x| tick_label(*x, decimals(x_max - x_min)))
        .y_label_formatter(&|y| tick_label(*y, decimals(y_max - y_min)))
        .draw()
        .map_err(err)?;
    for s in figure.series.iter().filter(|s| !s.band.is_empty()) {
        let outline: Vec<(f64, f64)> =
            s.band.iter().map(|&(x, lo, _)| (x, lo)).chain(s.band.iter().rev().map(|&(x, _, hi)| (x, hi))).collect();
        chart.draw_series(std::iter::once(Polygon::new(outline, s.color.mix(0.18).filled()))).map_err(err)?;
    }
    for s in &figure.series {
        let color = s.color;
        // A thick line's mitred corners spike far past a zigzag of more
        // points than there are pixels across (a return of ±1 alternating
        // from episode to episode): draw such a series one pixel wide.
        let stroke_width = if s.points.len() > (SIZE.0 / 2) as usize { 1 } else { 2 };
        let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width };
        let drawn = chart.draw_series(LineSeries::new(s.points.iter().copied(), style)).map_err(err)?;
        // A series without a label (the second of several alike) has no
        // legend entry.
        if !s.label.is_empty() {
            drawn.label(s.label.as_str()).legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 3 },
                )
            });
        }
        if s.markers {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(figure.legend.clone())
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// An axis label: `value` to `decimals` places, without the minus sign of
/// a tick that rounds to zero (a tick at -1e-17 is "0.00", not "-0.00").
fn tick_label(value: f64, decimals: usize) -> String {
    let label = format!("{value:.decimals$}");
    match label.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => label,
    }
}

/// Decimals for axis labels over a range `span` wide: whole numbers for
/// returns and steps, two decimals for fractions in [0, 1].
fn decimals(span: f64) -> usize {
    if span <= 2.0 {
        2
    } else if span < 10.0 {
        1
    } else {
        0
    }
}

/// Why a log could not be read or a figure drawn.
#[derive(Debug)]
pub enum PlotError {
    /// A file that cannot be read.
    Read {
        /// Which.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A CSV log that reads but is not the table asked for.
    Table {
        /// Which.
        path: PathBuf,
        /// The 1-based line at fault, if one is.
        line: Option<usize>,
        /// What is wrong.
        problem: String,
    },
    /// A figure that cannot be drawn or written.
    Draw {
        /// The figure's file.
        path: PathBuf,
        /// What plotters said.
        problem: String,
    },
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            Self::Table { path, line: Some(line), problem } => write!(f, "{}:{line}: {problem}", path.display()),
            Self::Table { path, line: None, problem } | Self::Draw { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
        }
    }
}

impl std::error::Error for PlotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Table { .. } | Self::Draw { .. } => None,
        }
    }
}

/// For the commands that still report with a message: the whole chain.
impl From<PlotError> for String {
    fn from(e: PlotError) -> Self {
        runner::ErrorChain(&e).to_string()
    }
}

/// Writes `figure` as `<stem>.svg` and `<stem>.png`; returns both paths.
pub fn save(figure: &Figure, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let svg = save_svg(figure, stem)?;
    let png = stem.with_extension("png");
    draw_on(&BitMapBackend::new(&png, SIZE).into_drawing_area(), figure)
        .map_err(|problem| PlotError::Draw { path: png.clone(), problem })?;
    Ok(vec![svg, png])
}

/// Writes `figure` as `<stem>.svg` only; returns its path.
pub fn save_svg(figure: &Figure, stem: &Path) -> Result<PathBuf, PlotError> {
    let svg = stem.with_extension("svg");
    draw_on(&SVGBackend::new(&svg, SIZE).into_drawing_area(), figure)
        .map_err(|problem| PlotError::Draw { path: svg.clone(), problem })?;
    Ok(svg)
}

/// Reads the numeric columns `columns` of a CSV file with a header line.
/// Empty fields read as NaN.
///
/// # Errors
/// The file cannot be read, is empty, lacks a column, or holds a field
/// that is not a number (its line given).
pub fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<Vec<f64>>, PlotError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlotError::Read { path: path.to_path_buf(), source })?;
    let table = |line, problem| PlotError::Table { path: path.to_path_buf(), line, problem };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or_else(|| table(None, "empty file".into()))?.split(',').collect();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == c).ok_or_else(|| table(None, format!("no column {c:?}"))))
        .collect::<Result<_, _>>()?;
    let mut out = vec![Vec::new(); columns.len()];
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        for (k, &i) in index.iter().enumerate() {
            let field = fields.get(i).copied().unwrap_or("");
            let value = if field.is_empty() {
                f64::NAN
            } else {
                field.parse().map_err(|_| table(Some(n + 2), format!("{field:?} is not a number")))?
            };
            out[k].push(value);
        }
    }
    Ok(out)
}

/// The trailing moving average of `values` over `window` points.
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let tail = &values[(i + 1).saturating_sub(window)..=i];
            tail.iter().sum::<f64>() / tail.len() as f64
        })
        .collect()
}

/// A run's training curve, like the seed chapter's figure 7-6: the return
/// of each episode (numbered from 1) and its moving average.
pub fn train_figure(title: &str, returns: &[f64]) -> Figure {
    let episodes = (1..=returns.len()).map(|e| e as f64);
    Figure {
        legend: SeriesLabelPosition::UpperLeft,
        title: title.to_string(),
        x_label: "episode".into(),
        y_label: "return".into(),
        series: vec![
            Series {
                label: "return".into(),
                points: episodes.clone().zip(returns.iter().copied()).collect(),
                color: RGBColor(150, 180, 230),
                markers: false,
                band: Vec::new(),
            },
            Series {
                label: format!("moving average ({WINDOW})"),
                points: episodes.zip(moving_average(returns, WINDOW)).collect(),
                color: RGBColor(200, 40, 40),
                markers: false,
                band: Vec::new(),
            },
        ],
    }
}

/// A run's greedy test returns and their mean, like figure 7-7.
pub fn test_figure(title: &str, returns: &[f64]) -> Figure {
    let (mean, _) = runner::mean_std(returns);
    let last = returns.len().max(1) as f64;
    Figure {
        legend: SeriesLabelPosition::LowerRight,
        title: title.to_string(),
        x_label: "test episode".into(),
        y_label: "return".into(),
        series: vec![
            Series {
                label: "return".into(),
                points: (1..).map(f64::from).zip(returns.iter().copied()).collect(),
                color: RGBColor(40, 110, 200),
                markers: true,
                band: Vec::new(),
            },
            Series {
                label: format!("mean {mean:.1}"),
                points: vec![(1.0, mean), (last, mean)],
                color: RGBColor(200, 40, 40),
                markers: false,
                band: Vec::new(),
            },
        ],
    }
}

impl Figure {
    /// Adds a dashed horizontal line at `y` across the figure's episodes:
    /// the return that counts as solved.
    #[must_use]
    pub fn with_threshold(mut self, y: f64) -> Self {
        let x_max = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0f64, f64::max);
        self.series.push(Series {
            label: format!("solved at {y}"),
            points: vec![(1.0, y), (x_max, y)],
            color: RGBColor(90, 160, 90),
            markers: false,
            band: Vec::new(),
        });
        self
    }
}

/// Draws a run folder's figures from its CSV files and its configuration
/// (which names the environment and its solve threshold):
/// `train.{svg,png}` and `test.{svg,png}`. Returns the files written.
pub fn draw_run(run: &Path) -> Result<Vec<PathBuf>, String> {
    let config_path = run.join(runner::files::CONFIG);
    let config = runner::RunConfig::from_file(&config_path).map_err(|e| runner::ErrorChain(&e).to_string())?;
    let spec = config.env_spec().map_err(|e| format!("{}: {}", config_path.display(), runner::ErrorChain(&e)))?;
    let learner = match config.learner {
        runner::LearnerSetting::Dqn => "DQN",
        runner::LearnerSetting::TabularQ { .. } => "Tabular Q",
    };
    let with_threshold = |figure: Figure| match spec.reward_threshold {
        Some(y) => figure.with_threshold(y),
        None => figure,
    };
    let train = read_columns(&run.join(runner::files::TRAIN_CSV), &["return"])?;
    let title = format!("{learner} on {}: training", spec.id);
    let mut written = save(&with_threshold(train_figure(&title, &train[0])), &run.join("train"))?;
    let test = read_columns(&run.join(runner::files::TEST_CSV), &["return"])?;
    let title = format!("{learner} on {}: greedy test", spec.id);
    written.extend(save(&with_threshold(test_figure(&title, &test[0])), &run.join("test"))?);
    Ok(written)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_never_show_minus_zero() {
        assert_eq!(tick_label(-1e-17, 2), "0.00");
        assert_eq!(tick_label(-0.0, 0), "0");
        assert_eq!(tick_label(-0.004, 2), "0.00");
        assert_eq!(tick_label(-0.006, 2), "-0.01");
        assert_eq!(tick_label(-200.0, 0), "-200");
    }

    #[test]
    fn moving_average_by_hand() {
        assert_eq!(moving_average(&[2.0, 4.0, 6.0, 8.0], 2), vec![2.0, 3.0, 5.0, 7.0]);
        assert_eq!(moving_average(&[], 3), Vec::<f64>::new());
    }

    /// A run folder of the default configuration with two training
    /// episodes and the greedy test `test_csv`.
    fn run_folder(name: &str, test_csv: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dqn-plot-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.ron"), runner::RunConfig::default().to_ron()).unwrap();
        std::fs::write(
            dir.join("train.csv"),
            "episode,steps,total_steps,return,epsilon,mean_loss\n1,10,10,10,0.9,\n2,30,40,30,0.8,0.5\n",
        )
        .unwrap();
        std::fs::write(dir.join("test.csv"), test_csv).unwrap();
        dir
    }

    #[test]
    fn figures_are_written_with_text() {
        let dir = run_folder("test", "episode,return\n1,200\n2,180\n");
        let files = draw_run(&dir).unwrap();
        assert_eq!(files.len(), 4);
        let svg = std::fs::read_to_string(dir.join("train.svg")).unwrap();
        assert!(
            svg.contains("DQN on CartPole-v1: training") && svg.contains("moving average (10)"),
            "title and legend in the SVG"
        );
        // A PNG with text has many distinct dark pixels in the title strip;
        // check the file is a real, non-trivial PNG.
        let png = std::fs::read(dir.join("test.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 5_000, "{} bytes", png.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// MountainCar's returns are -1 per step: the figures must name it, show
    /// the negative range and draw Gymnasium's threshold (-110).
    #[test]
    fn negative_returns_are_plotted_with_their_threshold() {
        let dir = std::env::temp_dir().join(format!("dqn-plot-negative-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.ron"), runner::RunConfig::for_env("mountaincar").unwrap().to_ron()).unwrap();
        std::fs::write(
            dir.join("train.csv"),
            "episode,steps,total_steps,return,epsilon,mean_loss,q_probe,env\n\
             1,200,200,-200,0.9,,0,MountainCar-v0\n2,150,350,-150,0.8,0.5,0,MountainCar-v0\n",
        )
        .unwrap();
        std::fs::write(dir.join("test.csv"), "episode,return,env\n1,-120,MountainCar-v0\n2,-98,MountainCar-v0\n")
            .unwrap();
        draw_run(&dir).unwrap();
        for (name, worst) in [("train.svg", -200), ("test.svg", -120)] {
            let svg = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(svg.contains("DQN on MountainCar-v0"), "{name}: the title names the environment");
            assert!(svg.contains("solved at -110"), "{name}: the threshold's legend");
            // The y axis is labelled down to the worst return (plotters
            // writes each label on a line of its own).
            let lowest_tick = svg.lines().filter_map(|l| l.trim().parse::<i32>().ok()).min();
            assert!(lowest_tick.is_some_and(|y| y <= worst + 20 && y >= worst - 50), "{name}: {lowest_tick:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Returns near f64::MAX overflow the axis span: a named error, where
    /// plotters would search for tick marks forever.
    #[test]
    fn returns_too_large_to_draw_are_an_error() {
        let dir = run_folder("huge", "episode,return\n1,1.7e308\n2,-1.7e308\n");
        let error = draw_run(&dir).unwrap_err();
        assert!(error.contains("greedy test") && error.contains("too large to draw"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A training curve of more episodes than pixels, alternating between
    /// -1 and 1 (Catch's), is drawn one pixel wide: a thicker line's mitred
    /// corners spike beyond the axes.
    #[test]
    fn dense_zigzags_are_drawn_thin() {
        let returns: Vec<f64> = (0..2000).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect();
        let dir = std::env::temp_dir().join(format!("dqn-plot-dense-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = save_svg(&train_figure("dense", &returns), &dir.join("train")).unwrap();
        let svg = std::fs::read_to_string(path).unwrap();
        // The two curves are the polylines of thousands of points (the
        // axes and grid are short ones).
        let polylines: Vec<&str> = svg.lines().filter(|l| l.contains("<polyline") && l.len() > 10_000).collect();
        assert_eq!(polylines.len(), 2, "the returns and their moving average");
        assert!(
            polylines.iter().all(|l| l.contains(r#"stroke-width="1""#)),
            "{:?}",
            polylines.iter().map(|l| &l[..80.min(l.len())]).collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
