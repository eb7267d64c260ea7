//! `cargo xtask`: the commands a person types to use dqn-rs.
//!
//! Binaries stay thin: parse the arguments, call one library function, map
//! its error to an exit code.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  train    train the seed chapter's DQN on CartPole-v1 (not available yet)
  help     print this message";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("help" | "-h" | "--help") => {
            eprintln!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("train") => {
            eprintln!(
                "cargo xtask train: not available yet: the DQN agent and runner crates have not landed \
                 (see docs/ARCHITECTURE.md for what exists today)"
            );
            ExitCode::FAILURE
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
