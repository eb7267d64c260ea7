//! Training progress: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use runner::{EpisodeLog, ErrorChain, EvalLog, Progress, SkippedCheckpoint, TestLog};

/// Episodes in the moving average shown while training.
const WINDOW: usize = 20;

pub struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    recent: Vec<f64>,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{bar:30} {pos}/{len} episodes {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self { bar, quiet, recent: Vec::new() }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Progress for Reporter {
    fn train_episode(&mut self, log: &EpisodeLog, of: u32, elapsed: f64) {
        self.recent.push(log.ret);
        let tail = &self.recent[self.recent.len().saturating_sub(WINDOW)..];
        let avg = tail.iter().sum::<f64>() / tail.len() as f64;
        let rate = log.total_steps as f64 / elapsed.max(1e-9);
        let msg =
            format!("return {:>3} | avg{WINDOW} {avg:>5.1} | ε {:.3} | {rate:>6.0} steps/s", log.ret, log.epsilon);
        match &self.bar {
            Some(bar) => {
                bar.set_length(u64::from(of));
                bar.set_position(u64::from(log.episode));
                bar.set_message(msg);
            }
            None if !self.quiet && (log.episode.is_multiple_of(10) || log.episode == of || log.episode == 1) => {
                eprintln!("episode {:>4}/{of} {msg}", log.episode);
            }
            None => {}
        }
    }

    fn evaluation(&mut self, log: &EvalLog) {
        if self.quiet {
            return;
        }
        let line = format!(
            "evaluation at {} steps: greedy mean {:.1} (min {}){}",
            log.total_steps,
            log.mean_return,
            log.min_return,
            if log.solved { " - solved, training stops" } else { "" }
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Always shown, quiet or not: a damaged file is worth knowing about.
    fn checkpoint_skipped(&mut self, skipped: &SkippedCheckpoint) {
        let line = format!("warning: skipped unusable checkpoint {}", ErrorChain(skipped));
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Always shown: the run cannot be resumed if it stops.
    fn checkpoints_unavailable(&mut self, env: &str) {
        let line = format!("note: environment {env} cannot be saved: no checkpoints, --resume unavailable");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn test_episode(&mut self, log: &TestLog, of: u32) {
        if !self.quiet && self.bar.is_none() {
            eprintln!("test episode {:>3}/{of}: return {}", log.episode, log.ret);
        }
    }
}
