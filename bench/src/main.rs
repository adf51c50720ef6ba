//! `doorstep-bench core [--quick]`: the phone-side figures of BENCHMARKS.md. Build it in release
//! (`cargo run --release -p doorstep-bench -- core`); a debug build measures the compiler, not
//! Doorstep. It prints a table and asserts nothing about time.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

mod core_bench;
mod figures;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    match args.first().map(String::as_str) {
        Some("core") => core_bench::run(quick),
        _ => {
            eprintln!("usage: doorstep-bench core [--quick]");
            std::process::exit(2);
        }
    }
}
