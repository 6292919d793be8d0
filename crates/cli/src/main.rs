//! `berth`: the docker-compatible command-line client. Everything it does goes through the
//! Engine API on berthd's socket, so anything it can do the docker CLI can do too.

mod build_view;
mod client;
mod commands;
mod config;
mod format;
mod hijack;
mod progress;
mod session;
mod stdcopy;
mod timestamp;
mod tty;
mod usage;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let argv: Vec<String> = std::env::args().collect();
    let cli = match commands::Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            return match usage::report(&e, &argv) {
                None => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                Some((msg, 0)) => {
                    print!("{msg}");
                    ExitCode::SUCCESS
                }
                Some((msg, code)) => {
                    eprintln!("{msg}");
                    ExitCode::from(code)
                }
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: {e}");
            return ExitCode::from(125);
        }
    };
    let result = rt.block_on(commands::run(cli));
    // Tasks still blocked on a socket (a wait we no longer need) must not hold up the exit.
    rt.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if closed_stdout(&e) => ExitCode::from(141),
        Err(e) => {
            let msg = commands::describe(&e);
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            ExitCode::from(commands::exit_code(&e))
        }
    }
}

/// Streamed output (logs, attach) written to a reader that went away, such as `head`: the
/// docker CLI dies of SIGPIPE there, silently.
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Output piped into `head` should end berth quietly, as it ends any Unix tool. SIGPIPE stays
/// ignored (a daemon that answers before reading a request body must not kill berth), so the
/// panic that `println!` raises on a closed stdout is turned into a silent exit instead.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
