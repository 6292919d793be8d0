//! Command-line mistakes reported in the docker CLI's words and with its exit statuses: bad
//! flags and flag values exit 125 ("unknown flag: --x", "invalid argument …"), a wrong number
//! of arguments or an unknown command exits 1, each followed by the command's usage line and
//! where to find help.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, CommandFactory};

use crate::commands::Cli;

/// docker's top-level commands that berth does not have yet: named as such rather than as
/// unknown commands.
const NOT_YET: &[&str] = &[
    "buildx",
    "compose",
    "context",
    "plugin",
    "swarm",
    "node",
    "service",
    "stack",
    "secret",
    "config",
    "trust",
    "manifest",
    "checkpoint",
    "search",
    "init",
];

/// What to print for a parse error, and the exit status; `None` for help and version output
/// (printed by clap, exit 0).
pub fn report(e: &clap::Error, argv: &[String]) -> Option<(String, u8)> {
    let mut root = Cli::command();
    root.build();
    let (path, next) = command_path(&root, argv);
    let cmd = path.last().copied().unwrap_or(&root);
    let names: Vec<&str> = path.iter().map(|c| c.get_name()).collect();
    let command_path = std::iter::once("berth")
        .chain(names.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let use_line = match cmd.get_overridden_usage() {
        Some(u) => u.to_string(),
        None => cmd
            .clone()
            .render_usage()
            .to_string()
            .trim_start_matches("Usage:")
            .trim()
            .to_string(),
    };
    let flag_error = |msg: String| {
        Some((
            format!(
                "{msg}\n\nUsage:  {use_line}\n\nRun '{command_path} --help' for more information"
            ),
            125,
        ))
    };
    let invalid_arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => None,
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            Some((cmd.clone().render_help().to_string(), 0))
        }
        ErrorKind::InvalidSubcommand if path.is_empty() && NOT_YET.contains(&next.as_str()) => {
            Some((
                format!("berth: '{next}' is not implemented in berth yet"),
                1,
            ))
        }
        ErrorKind::InvalidSubcommand => {
            let mut msg = format!("berth: unknown command: {command_path} {next}\n\n");
            if !path.is_empty() {
                msg.push_str(&format!("Usage:  {command_path}\n\n"));
            }
            msg.push_str(&format!("Run '{command_path} --help' for more information"));
            Some((msg, 1))
        }
        ErrorKind::UnknownArgument if invalid_arg.starts_with("--") => {
            let flag = invalid_arg.split('=').next().unwrap_or("");
            flag_error(format!("unknown flag: {flag}"))
        }
        ErrorKind::UnknownArgument if invalid_arg.starts_with('-') && invalid_arg.len() > 1 => {
            let c = invalid_arg.chars().nth(1).unwrap_or('-');
            let typed = argv
                .iter()
                .find(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
                .cloned()
                .unwrap_or(invalid_arg.clone());
            flag_error(format!("unknown shorthand flag: '{c}' in {typed}"))
        }
        ErrorKind::UnknownArgument
        | ErrorKind::MissingRequiredArgument
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues => Some((arity_message(cmd, &command_path, &use_line), 1)),
        ErrorKind::InvalidValue
            if e.get(ContextKind::InvalidValue)
                .is_some_and(|v| v.to_string().is_empty()) =>
        {
            let (short, long) = flag_names(cmd, &invalid_arg);
            let typed_short = short.filter(|c| {
                argv.iter()
                    .any(|a| a.starts_with('-') && !a.starts_with("--") && a.ends_with(*c))
            });
            match typed_short {
                Some(c) => flag_error(format!("flag needs an argument: '{c}' in -{c}")),
                None => flag_error(format!("flag needs an argument: --{long}")),
            }
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let source = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            if source.starts_with("invalid argument ") {
                return flag_error(source);
            }
            let value = match e.get(ContextKind::InvalidValue) {
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let (short, long) = flag_names(cmd, &invalid_arg);
            let name = match short {
                Some(c) => format!("-{c}, --{long}"),
                None => format!("--{long}"),
            };
            let why = if source.is_empty() {
                "invalid syntax".to_string()
            } else {
                source
            };
            flag_error(format!(
                "invalid argument \"{value}\" for \"{name}\" flag: {why}"
            ))
        }
        _ => flag_error(
            e.kind()
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
        ),
    }
}

/// The subcommands named on the command line, outermost first, and the word after them.
fn command_path<'a>(root: &'a Command, argv: &[String]) -> (Vec<&'a Command>, String) {
    let mut path = Vec::new();
    let mut cur = root;
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            // Only the top level has options before a subcommand; skip their values.
            if path.is_empty() {
                if matches!(a.as_str(), "-H" | "--host" | "-l" | "--log-level") {
                    args.next();
                }
                continue;
            }
            break;
        }
        match cur.find_subcommand(a) {
            Some(sub) => {
                path.push(sub);
                cur = sub;
            }
            None => return (path, a.clone()),
        }
    }
    (path, String::new())
}

/// The short and long names of the flag clap names as `--long <VALUE>` or `-s <VALUE>`.
fn flag_names(cmd: &Command, shown: &str) -> (Option<char>, String) {
    let token = shown.split([' ', '[', '=']).next().unwrap_or("");
    let arg = cmd.get_arguments().find(|a| {
        token
            .strip_prefix("--")
            .is_some_and(|l| a.get_long() == Some(l))
            || (token.len() == 2 && token.starts_with('-') && a.get_short() == token.chars().nth(1))
    });
    match arg {
        Some(a) => (
            a.get_short(),
            a.get_long().unwrap_or(a.get_id().as_str()).to_string(),
        ),
        None => (None, token.trim_start_matches('-').to_string()),
    }
}

/// docker's `cli.NoArgs`/`ExactArgs`/`RequiresMinArgs`/… messages, from the positional
/// arguments the command declares.
fn arity_message(cmd: &Command, command_path: &str, use_line: &str) -> String {
    let mut min = 0usize;
    let mut max = Some(0usize);
    for p in cmd.get_positionals() {
        let multiple = p.get_num_args().is_some_and(|r| r.max_values() > 1);
        if p.is_required_set() {
            min += 1;
        }
        max = match (max, multiple) {
            (Some(m), false) => Some(m + 1),
            _ => None,
        };
    }
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let (what, hint) = match max {
        Some(0) => ("accepts no arguments".to_string(), "Run"),
        None => (format!("requires at least {min} {}", plural(min)), "See"),
        Some(m) if m == min => (format!("requires {m} {}", plural(m)), "Run"),
        // "SRun" is the docker CLI's own spelling in this message.
        Some(m) if min == 0 => (format!("requires at most {m} {}", plural(m)), "SRun"),
        Some(m) => (
            format!("requires at least {min} and at most {m} {}", plural(m)),
            "Run",
        ),
    };
    format!("berth: '{command_path}' {what}\n\nUsage:  {use_line}\n\n{hint} '{command_path} --help' for more information")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn msg(args: &[&str]) -> (String, u8) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = Cli::try_parse_from(&argv).expect_err("should fail");
        report(&e, &argv).expect("an error report")
    }

    #[test]
    fn flag_errors_like_docker() {
        assert_eq!(
            msg(&["berth", "run", "-m", "x", "busybox"]),
            (
                "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information".into(),
                125
            )
        );
        assert_eq!(
            msg(&["berth", "container", "run", "--foo", "busybox"]).0,
            "unknown flag: --foo\n\nUsage:  berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth container run --help' for more information"
        );
        assert!(msg(&["berth", "run", "-x", "busybox"])
            .0
            .starts_with("unknown shorthand flag: 'x' in -x\n"));
        assert!(msg(&["berth", "run", "-m"])
            .0
            .starts_with("flag needs an argument: 'm' in -m\n"));
        assert!(msg(&["berth", "container", "run", "--memory"])
            .0
            .starts_with("flag needs an argument: --memory\n"));
        let (m, code) = msg(&["berth", "ps", "-n", "x"]);
        assert_eq!(code, 125);
        assert!(
            m.starts_with("invalid argument \"x\" for \"-n, --last\" flag: "),
            "{m}"
        );
        assert!(msg(&["berth", "run", "--cpus", "abc", "busybox"])
            .0
            .starts_with("invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number\n"));
    }

    #[test]
    fn argument_counts_like_docker() {
        assert_eq!(
            msg(&["berth", "run"]),
            ("berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information".into(), 1)
        );
        assert_eq!(
            msg(&["berth", "rename", "a"]).0,
            "berth: 'berth rename' requires 2 arguments\n\nUsage:  berth rename CONTAINER NEW_NAME\n\nRun 'berth rename --help' for more information"
        );
        assert!(msg(&["berth", "ps", "extra"])
            .0
            .starts_with("berth: 'berth ps' accepts no arguments\n"));
        assert!(msg(&["berth", "logs"])
            .0
            .starts_with("berth: 'berth logs' requires 1 argument\n"));
        assert_eq!(
            msg(&["berth", "container", "foo"]),
            ("berth: unknown command: berth container foo\n\nUsage:  berth container\n\nRun 'berth container --help' for more information".into(), 1)
        );
    }
}
