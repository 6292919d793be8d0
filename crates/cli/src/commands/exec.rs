//! `exec`: the docker CLI's sequence (inspect the container, create the exec, start it
//! attached or detached, then read its exit code from the exec's inspect).

use clap::Args;
use hyper::Method;
use serde_json::json;

use crate::client::Client;
use crate::session::{self, StreamEnd, StreamOpts};
use crate::tty;

use super::attach::{detach_keys_or_config, follow_tty_size, TtyOf};
use super::{exit_status, parse, status_error};

#[derive(Debug, Args)]

pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "", hide_default_value = true)]
    detach_keys: String,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_parser = parse::flag("-e, --env", parse::validate_env))]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(
        short = 'u',
        long = "user",
        default_value = "",
        hide_default_value = true
    )]
    user: String,
    /// Working directory inside the container
    #[arg(
        short = 'w',
        long = "workdir",
        default_value = "",
        hide_default_value = true
    )]
    workdir: String,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER")]
    args: Vec<String>,
}

pub async fn exec(client: &Client, a: ExecArgs) -> anyhow::Result<u8> {
    let container = &a.args[0];
    let cmd = &a.args[1..];
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = parse::read_kv_files(&a.env_file, Some(&lookup)).map_err(anyhow::Error::msg)?;
    env.extend(a.env.iter().cloned());
    let detach_keys = detach_keys_or_config(&a.detach_keys);
    if a.tty && a.interactive && !a.detach && !tty::is_terminal(tty::STDIN) {
        anyhow::bail!("the input device is not a TTY");
    }
    client
        .get_json(&format!("/containers/{container}/json"))
        .await?;
    let attach = !a.detach;
    let console = if a.tty && tty::is_terminal(tty::STDOUT) {
        let (h, w) = tty::size(tty::STDOUT);
        json!([h, w])
    } else {
        json!([0, 0])
    };
    let body = json!({
        "User": a.user,
        "Privileged": a.privileged,
        "Tty": a.tty,
        "ConsoleSize": console,
        "AttachStdin": a.interactive && attach,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": a.detach,
        "DetachKeys": if a.detach_keys.is_empty() { String::new() } else { detach_keys.clone() },
        "Env": env,
        "WorkingDir": a.workdir,
        "Cmd": cmd,
    });
    let created = client
        .send_json(
            Method::POST,
            &format!("/containers/{container}/exec"),
            Some(&body),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    let start = json!({ "Detach": a.detach, "Tty": a.tty, "ConsoleSize": console });
    if a.detach {
        client
            .send_json(Method::POST, &format!("/exec/{id}/start"), Some(&start))
            .await?;
        return Ok(0);
    }
    let conn = client
        .hijack(&format!("/exec/{id}/start"), Some(&start))
        .await?;
    let resizer = (a.tty && tty::is_terminal(tty::STDOUT))
        .then(|| follow_tty_size(client.clone(), TtyOf::Exec(id.clone()), false));
    let opts = StreamOpts {
        tty: a.tty,
        stdin: a.interactive,
        stdout: true,
        stderr: true,
        detach_keys,
    };
    let end = session::stream(conn, opts).await;
    if let Some(r) = resizer {
        r.abort();
    }
    if end? == StreamEnd::Detached {
        return Ok(0);
    }
    let inspect = client.get_json(&format!("/exec/{id}/json")).await?;
    match inspect["ExitCode"].as_i64() {
        Some(0) | None => Ok(0),
        Some(code) => Err(status_error(exit_status(code), "")),
    }
}
