//! Stopping a run: Ctrl-C and SIGTERM set the stop flag that the runner
//! checks between steps and inside long ones; a watchdog makes sure the
//! process ends within about a second even when one indivisible piece of
//! work (a single gradient step of a huge network) takes longer; and the
//! crash tests' fault injection (`DQN_RS_FAULT`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use runner::{FaultHook, FaultPoint};

/// How long a stop may take before the step in progress is abandoned.
const GRACE: Duration = Duration::from_secs(1);

/// What the run is doing, as far as stopping is concerned.
const RUNNING: u8 = 0;
/// A checkpoint is being written after the stop was asked for: let it end.
const WRITING_AFTER_STOP: u8 = 1;
/// Training and testing are over (what is left is quick): let it end.
const DONE: u8 = 2;

/// The environment variable of the crash tests (`xtask/tests/kill.rs`):
/// `crash-before-step:N` aborts the process before the first vector step at
/// or after N environment steps; `crash-writing-checkpoint:K:B` aborts while
/// the K-th checkpoint is being written, once B bytes of it (or all of it,
/// if it is shorter) are in its temporary file, before it is synced and
/// renamed; `crash-testing` aborts in the test phase;
/// `pause-within-step:N` waits, inside the first step after N environment
/// steps (between two gradient steps), until the stop flag is set, after
/// printing `paused within a step` to stderr.
pub const FAULT_VAR: &str = "DQN_RS_FAULT";

/// A parsed `DQN_RS_FAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    CrashBeforeStep(u64),
    CrashWritingCheckpoint { nth: u32, bytes: u64 },
    CrashTesting,
    PauseWithinStep(u64),
}

impl Fault {
    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts[..] {
            ["crash-before-step", n] => n.parse().ok().map(Self::CrashBeforeStep),
            ["crash-writing-checkpoint", k, b] => {
                Some(Self::CrashWritingCheckpoint { nth: k.parse().ok()?, bytes: b.parse().ok()? })
            }
            ["crash-testing"] => Some(Self::CrashTesting),
            ["pause-within-step", n] => n.parse().ok().map(Self::PauseWithinStep),
            _ => None,
        }
    }
}

/// The stop flag of one run, set by Ctrl-C or SIGTERM.
pub struct Stop {
    flag: Arc<AtomicBool>,
    state: Arc<AtomicU8>,
    fault: Option<Fault>,
}

impl Stop {
    /// The flag the runner reads.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// The runner's fault hook: it tells the watchdog when a checkpoint is
    /// being written after a stop, and injects the crash tests' faults.
    pub fn fault_hook(&self) -> FaultHook {
        let (flag, state, fault) = (Arc::clone(&self.flag), Arc::clone(&self.state), self.fault);
        FaultHook(Arc::new(move |point| {
            let writing = matches!(point, FaultPoint::CheckpointBegin { .. } | FaultPoint::CheckpointWriting { .. });
            if writing && flag.load(Ordering::Relaxed) {
                state.store(WRITING_AFTER_STOP, Ordering::Relaxed);
            }
            match (fault, point) {
                (Some(Fault::CrashBeforeStep(n)), FaultPoint::BeforeStep { total_steps }) if total_steps >= n => {
                    std::process::abort()
                }
                (
                    Some(Fault::CrashWritingCheckpoint { nth, bytes }),
                    FaultPoint::CheckpointWriting { nth: k, written, total },
                ) if k == nth && (written >= bytes || written == total) => std::process::abort(),
                (Some(Fault::CrashTesting), FaultPoint::Testing) => std::process::abort(),
                (Some(Fault::PauseWithinStep(n)), FaultPoint::WithinStep { steps_before })
                    if steps_before >= n && !flag.load(Ordering::Relaxed) =>
                {
                    eprintln!("paused within a step");
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                _ => {}
            }
        }))
    }
}

impl Stop {
    /// The runner has returned: nothing long is left, so a signal from now
    /// on abandons nothing.
    pub fn done(&self) {
        self.state.store(DONE, Ordering::Relaxed);
    }
}

/// Catches Ctrl-C and SIGTERM for the run in `run_dir`: the first sets the
/// stop flag; if the process is still running [`GRACE`] later and is not
/// writing its checkpoint, the step in progress is abandoned: the process
/// says which checkpoint stands and exits with 130.
pub fn install(run_dir: &Path) -> Stop {
    let fault = std::env::var(FAULT_VAR).ok().and_then(|v| Fault::parse(&v));
    let stop = Stop { flag: Arc::new(AtomicBool::new(false)), state: Arc::new(AtomicU8::new(RUNNING)), fault };
    let (flag, state, run_dir) = (stop.flag(), Arc::clone(&stop.state), run_dir.to_path_buf());
    let handler = move || {
        flag.store(true, Ordering::Relaxed);
        eprintln!(
            "stopping: the step in progress stops at its next gradient or greedy step, then a checkpoint is written"
        );
        std::thread::sleep(GRACE);
        if state.load(Ordering::Relaxed) != RUNNING {
            return;
        }
        eprintln!("{}", abandoned(&run_dir));
        std::process::exit(130);
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        eprintln!("warning: cannot catch Ctrl-C ({e}); an interrupted run loses its last steps");
    }
    stop
}

/// What to say when the step in progress is abandoned.
fn abandoned(run_dir: &Path) -> String {
    let newest: Option<PathBuf> = runner::checkpoint::list(&run_dir.join(runner::checkpoint::DIR)).pop();
    let stands = match newest {
        Some(path) => format!(
            "the newest checkpoint, {}, stands; continue with: cargo xtask train --resume {}",
            path.display(),
            run_dir.display()
        ),
        None => "no checkpoint was written yet, so the run must start again".to_string(),
    };
    format!(
        "interrupted; one piece of the step in progress (a single gradient step or batched forward pass) has run for \
         over {} s, so the step is abandoned: {stands}",
        GRACE.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_nonsense_is_ignored() {
        assert_eq!(Fault::parse("crash-before-step:12"), Some(Fault::CrashBeforeStep(12)));
        assert_eq!(
            Fault::parse("crash-writing-checkpoint:3:65536"),
            Some(Fault::CrashWritingCheckpoint { nth: 3, bytes: 65_536 })
        );
        assert_eq!(Fault::parse("crash-testing"), Some(Fault::CrashTesting));
        assert_eq!(Fault::parse("pause-within-step:100"), Some(Fault::PauseWithinStep(100)));
        for nonsense in ["", "crash-before-step", "crash-before-step:x", "pause:1", "crash-testing:1"] {
            assert_eq!(Fault::parse(nonsense), None, "{nonsense}");
        }
    }
}
