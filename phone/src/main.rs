//! `doorstep-phone`: the terminal phone on its own, the same commands as `doorstep phone …`.

use std::io::Write as _;

use clap::Parser;
use doorstep_phone::PhoneArgs;
use tracing_subscriber::EnvFilter;

/// The command line: the phone's options and commands at the top level.
#[derive(Debug, Parser)]
#[command(
    name = "doorstep-phone",
    version,
    about = "终端里的手机：加入、按门牌看任务、记录上门、接收求助、同步 / A phone in the terminal: join, see tasks by door, record attempts, take requests, sync"
)]
struct Cli {
    #[command(flatten)]
    phone: PhoneArgs,
}

/// Runs the command; a failure prints its message as one line to stderr, with no stack trace
/// even under `RUST_BACKTRACE` (a person's mistake is not a program fault), and exits 1.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    doorstep_core::expected_panic::install_hook();
    // Warnings only by default (the phone's output is its own text), and colour codes only for a
    // person at a terminal, never into a redirected log file.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime / 无法启动: {e}"))
        .and_then(|runtime| runtime.block_on(doorstep_phone::run(cli.phone)).map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
