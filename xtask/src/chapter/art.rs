//! The cart and pole drawn: a labelled picture, and an animated GIF of a
//! trained policy balancing. Pure Rust (plotters' GIF encoder, the embedded
//! font): no system libraries.

use std::path::Path;

use cartpole_sim::physics::{HALF_POLE_LENGTH, THETA_THRESHOLD, X_THRESHOLD};
use plotters::coord::Shift;
use plotters::prelude::*;
use runner::RunConfig;

const CART_WIDTH: f64 = 0.5;
const CART_HEIGHT: f64 = 0.3;
const X_RANGE: std::ops::Range<f64> = -2.8..2.8;
const Y_RANGE: std::ops::Range<f64> = -0.35..1.55;

/// Draws the track, the bounds, the cart and the pole of `state` on `area`.
fn scene<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, state: [f64; 4], caption: &str) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    crate::plot::register_font();
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(8)
        .build_cartesian_2d(X_RANGE, Y_RANGE)
        .map_err(err)?;
    let [x, _, theta, _] = state;
    let track = ShapeStyle { color: BLACK.mix(0.6), filled: false, stroke_width: 2 };
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(X_RANGE.start, 0.0), (X_RANGE.end, 0.0)], track)))
        .map_err(err)?;
    for bound in [-X_THRESHOLD, X_THRESHOLD] {
        let style = ShapeStyle { color: RGBColor(200, 40, 40).mix(0.7), filled: false, stroke_width: 2 };
        chart.draw_series(std::iter::once(PathElement::new(vec![(bound, -0.2), (bound, 1.4)], style))).map_err(err)?;
    }
    let cart = Rectangle::new(
        [(x - CART_WIDTH / 2.0, 0.0), (x + CART_WIDTH / 2.0, CART_HEIGHT)],
        RGBColor(60, 60, 60).filled(),
    );
    chart.draw_series(std::iter::once(cart)).map_err(err)?;
    // θ is measured from upright, positive to the right, as in Gymnasium.
    let pivot = (x, CART_HEIGHT);
    let length = 2.0 * HALF_POLE_LENGTH;
    let tip = (x + length * theta.sin(), CART_HEIGHT + length * theta.cos());
    let pole = ShapeStyle { color: RGBColor(204, 153, 102).to_rgba(), filled: false, stroke_width: 9 };
    chart.draw_series(std::iter::once(PathElement::new(vec![pivot, tip], pole))).map_err(err)?;
    chart.draw_series(std::iter::once(Circle::new(pivot, 4, RGBColor(130, 130, 200).filled()))).map_err(err)?;
    Ok(())
}

/// `cartpole.svg`: the system with its variables and limits labelled.
fn picture(path: &Path) -> Result<(), String> {
    let area = SVGBackend::new(path, (720, 300)).into_drawing_area();
    let state = [0.6, 0.0, 0.15, 0.0];
    scene(&area, state, "CartPole: push the cart left or right to keep the pole up")
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let err = |e: DrawingAreaErrorKind<std::io::Error>| format!("{}: {e}", path.display());
    let mut chart = ChartBuilder::on(&area)
        .margin(8)
        .caption(" ", ("sans-serif", 18))
        .build_cartesian_2d(X_RANGE, Y_RANGE)
        .map_err(err)?;
    let text = |s: &str, at: (f64, f64)| Text::new(s.to_string(), at, ("sans-serif", 15).into_font());
    let limits = format!("θ: pole angle from upright, |θ| ≤ {:.0}°", THETA_THRESHOLD.to_degrees());
    let labels = [
        text(&format!("x: cart position, |x| ≤ {X_THRESHOLD}"), (-2.3, 1.45)),
        text(&limits, (-2.3, 1.32)),
        text("actions: force −10 N (0) or +10 N (1)", (-2.3, 1.19)),
        text("reward 1 per step; ends at a bound or 500 steps", (-2.3, 1.06)),
        text("x = −2.4", (-X_THRESHOLD + 0.05, -0.15)),
        text("x = +2.4", (X_THRESHOLD - 0.55, -0.15)),
        text("θ", (0.68, 0.62)),
    ];
    chart.draw_series(labels).map_err(err)?;
    // The force arrows at the cart's sides.
    let arrow = ShapeStyle { color: RGBColor(40, 110, 200).to_rgba(), filled: false, stroke_width: 3 };
    for (from, to) in [((0.3, 0.15), (0.05, 0.15)), ((0.9, 0.15), (1.15, 0.15))] {
        chart.draw_series(std::iter::once(PathElement::new(vec![from, to], arrow))).map_err(err)?;
        let dir = if to.0 > from.0 { -0.06 } else { 0.06 };
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(to.0 + dir, 0.2), to, (to.0 + dir, 0.1)], arrow)))
            .map_err(err)?;
    }
    // The angle: a dashed upright reference from the pivot.
    let reference = ShapeStyle { color: BLACK.mix(0.4), filled: false, stroke_width: 1 };
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(0.6, CART_HEIGHT), (0.6, CART_HEIGHT + 0.9)], reference)))
        .map_err(err)?;
    area.present().map_err(err)
}

/// Frames in the animation: every second step of the first 300.
const FRAME_STEP: usize = 2;
const MAX_STEPS: u32 = 300;

/// `balance.gif`: the showcase policy balancing from the test stream's first
/// reset.
pub fn animation(showcase: &RunConfig, policy: &Path, path: &Path) -> Result<(), String> {
    let states =
        runner::greedy_episode(showcase, policy, MAX_STEPS).map_err(|e| runner::ErrorChain(&e).to_string())?.states;
    let area = BitMapBackend::gif(path, (480, 220), 2 * 20)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_drawing_area();
    for (t, state) in states.iter().enumerate().step_by(FRAME_STEP) {
        let state: [f64; 4] = state.as_slice().try_into().map_err(|_| "the showcase runs CartPole".to_string())?;
        let caption = format!("greedy policy, step {t:>3}: θ = {:+.1}°", state[2].to_degrees());
        scene(&area, state, &caption).map_err(|e| format!("{}: {e}", path.display()))?;
        area.present().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The picture and the animation, into `figures`.
pub fn draw_all(showcase: &RunConfig, policy: &Path, figures: &Path) -> Result<(), String> {
    picture(&figures.join("cartpole.svg"))?;
    animation(showcase, policy, &figures.join("balance.gif"))
}
