//! The `jwtd` binary: parse, run, map errors to exit codes (2 = bad config).

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = jwtd::cli::Cli::parse();
    match jwtd::commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwtd: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// mimalloc: a request makes about twenty small allocations, and glibc's
/// malloc and free cost ~3,000 instructions of each (measured with
/// callgrind, docs/benchmarks.md); mimalloc about half that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
