//! The `jwtd` binary: parse, run, map errors to exit codes (2 = bad config).

use std::process::ExitCode;

use jwtd::cli::LoadError;

fn main() -> ExitCode {
    let (command, config) = match jwtd::cli::load(std::env::args_os()) {
        Ok(loaded) => loaded,
        Err(LoadError::Usage(e)) => e.exit(),
        Err(LoadError::Config(e)) => {
            eprintln!("jwtd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jwtd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(jwtd::commands::run(command, config));
    // A password hash still running on the blocking pool (its request was
    // cut off at the end of `shutdown_grace`) must not hold the exit: a
    // plain drop of the runtime would wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
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
