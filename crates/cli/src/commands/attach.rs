//! `attach` and `start`, and what `run` shares with them: waiting for a container's exit,
//! following the terminal's size, and passing our signals on to the container.

use clap::{ArgAction, Args};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::client::{empty, q, Client, ClientError};
use crate::config;
use crate::hijack::Hijacked;
use crate::session::{self, StreamEnd, StreamOpts, ESCAPE_ERROR};
use crate::tty;

use super::exit_status;

/// What `POST /containers/{id}/wait` answered: the exit status and the daemon's error, if any;
/// `Err` when the wait itself failed (the request, or a body that is not the expected JSON).
pub type WaitOutcome = Result<(i64, Option<String>), String>;

/// Registers a wait and returns once the daemon has acknowledged it (its response head), so a
/// `start` sent afterwards cannot race past it; the task yields the outcome later.
/// `condition` is `next-exit`, `removed`, or empty for the daemon's default (`not-running`).
pub async fn wait_registered(
    client: &Client,
    id: &str,
    condition: &str,
) -> Result<JoinHandle<WaitOutcome>, ClientError> {
    let path = if condition.is_empty() {
        format!("/containers/{id}/wait")
    } else {
        format!("/containers/{id}/wait?condition={condition}")
    };
    let resp = client.request(Method::POST, &path, empty(), &[]).await?;
    Ok(tokio::spawn(async move {
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| String::from_utf8_lossy(&bytes).trim().to_string())?;
        let err = v["Error"]["Message"].as_str().map(str::to_string);
        Ok((v["StatusCode"].as_i64().unwrap_or(0), err))
    }))
}

/// The exit status `run` and `start -a` report for a wait (docker's `waitExitOrRemoved`):
/// the container's, or 125 when waiting failed.
pub async fn wait_status(wait: Result<JoinHandle<WaitOutcome>, String>) -> u8 {
    let outcome = match wait {
        Ok(handle) => handle.await.unwrap_or_else(|e| Err(e.to_string())),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((code, None)) => exit_status(code),
        Ok((_, Some(msg))) => {
            eprintln!("ERRO[0000] Error waiting for container: {msg}");
            125
        }
        Err(e) => {
            eprintln!("ERRO[0000] error waiting for container: {e}");
            125
        }
    }
}

/// `POST /containers/{id}/attach` with the query the docker CLI sends (keys sorted).
pub async fn attach_conn(
    client: &Client,
    id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: &str,
) -> Result<Hijacked, ClientError> {
    let mut query = Vec::new();
    if !detach_keys.is_empty() {
        query.push(format!("detachKeys={}", q(detach_keys)));
    }
    for (on, k) in [(stderr, "stderr"), (stdin, "stdin"), (stdout, "stdout")] {
        if on {
            query.push(format!("{k}=1"));
        }
    }
    query.push("stream=1".into());
    client
        .hijack(
            &format!("/containers/{id}/attach?{}", query.join("&")),
            None,
        )
        .await
}

/// What a terminal resize goes to: a container's TTY, or an exec's.
#[derive(Debug, Clone)]
pub enum TtyOf {
    Container(String),
    Exec(String),
}

async fn resize(client: &Client, of: &TtyOf, h: u16, w: u16) -> Result<(), ClientError> {
    if h == 0 && w == 0 {
        return Ok(());
    }
    let path = match of {
        TtyOf::Container(id) => format!("/containers/{id}/resize?h={h}&w={w}"),
        TtyOf::Exec(id) => format!("/exec/{id}/resize?h={h}&w={w}"),
    };
    client.post(&path).await
}

/// Tells the daemon our terminal's size now (retrying briefly: the container's TTY may not be
/// ready the instant start returns) and again on every SIGWINCH, until the task is aborted.
/// `nudge` first sets a size one larger, so a re-attached shell redraws its prompt.
pub fn follow_tty_size(client: Client, id: TtyOf, nudge: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        if nudge {
            let (h, w) = tty::size(tty::STDOUT);
            let _ = resize(&client, &id, h + 1, w + 1).await;
        }
        let (h, w) = tty::size(tty::STDOUT);
        if resize(&client, &id, h, w).await.is_err() {
            let mut ok = false;
            for retry in 0..10u64 {
                tokio::time::sleep(std::time::Duration::from_millis((retry + 1) * 10)).await;
                let (h, w) = tty::size(tty::STDOUT);
                if resize(&client, &id, h, w).await.is_ok() {
                    ok = true;
                    break;
                }
            }
            if !ok {
                eprintln!("failed to resize tty, using default size");
            }
        }
        while let Some(w) = winch.as_mut() {
            if w.recv().await.is_none() {
                break;
            }
            let (h, w) = tty::size(tty::STDOUT);
            let _ = resize(&client, &id, h, w).await;
        }
    })
}

/// Forwards the signals a user sends to berth (ctrl-c, kill) to the container, as
/// `--sig-proxy` does; stops when dropped.
pub struct SignalProxy(Vec<JoinHandle<()>>);

impl SignalProxy {
    pub fn start(client: &Client, id: &str) -> SignalProxy {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (libc::SIGHUP, "HUP"),
            (libc::SIGINT, "INT"),
            (libc::SIGQUIT, "QUIT"),
            (libc::SIGTERM, "TERM"),
            (libc::SIGUSR1, "USR1"),
            (libc::SIGUSR2, "USR2"),
        ];
        let tasks = kinds
            .into_iter()
            .filter_map(|(sig, name)| {
                let mut s = signal(SignalKind::from_raw(sig)).ok()?;
                let (client, id) = (client.clone(), id.to_string());
                Some(tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        let _ = client
                            .post(&format!("/containers/{id}/kill?signal={name}"))
                            .await;
                    }
                }))
            })
            .collect();
        SignalProxy(tasks)
    }
}

impl Drop for SignalProxy {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The detach keys to use: the flag, else the config file's.
pub fn detach_keys_or_config(flag: &str) -> String {
    if flag.is_empty() {
        config::detach_keys()
    } else {
        flag.to_string()
    }
}

/// Stops a session task and waits until it is gone (and the terminal restored).
pub async fn cancel<T>(task: JoinHandle<T>) {
    task.abort();
    let _ = task.await;
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "", hide_default_value = true)]
    detach_keys: String,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = super::parse::flag("--sig-proxy", super::parse::go_bool))]
    sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

async fn inspect_running(client: &Client, name: &str) -> anyhow::Result<Value> {
    let c = client.get_json(&format!("/containers/{name}/json")).await?;
    let state = |k: &str| c["State"][k].as_bool().unwrap_or(false);
    if !state("Running") {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    if state("Paused") {
        anyhow::bail!("You cannot attach to a paused container, unpause it first");
    }
    if state("Restarting") {
        anyhow::bail!("You cannot attach to a restarting container, wait until it is running");
    }
    Ok(c)
}

/// `attach`: docker's order of calls (wait, inspect, attach, inspect again), exiting with the
/// container's status, or 1 with "read escape sequence" when the user detaches.
pub async fn attach(client: &Client, a: AttachArgs) -> anyhow::Result<u8> {
    // Registered before anything else, so an exit during the attach is not missed.
    let wait = wait_registered(client, &a.container, "").await;
    let c = inspect_running(client, &a.container).await?;
    let tty_mode = c["Config"]["Tty"].as_bool().unwrap_or(false);
    if tty_mode && !a.no_stdin && !tty::is_terminal(tty::STDIN) {
        anyhow::bail!("the input device is not a TTY");
    }
    let detach_keys = detach_keys_or_config(&a.detach_keys);
    let stdin = !a.no_stdin && c["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let _proxy = (a.sig_proxy && !tty_mode).then(|| SignalProxy::start(client, &a.container));
    let conn = attach_conn(client, &a.container, stdin, true, true, &detach_keys).await?;
    // The container may have stopped between the check and the attach.
    inspect_running(client, &a.container).await?;
    let resizer = (tty_mode && tty::is_terminal(tty::STDOUT))
        .then(|| follow_tty_size(client.clone(), TtyOf::Container(a.container.clone()), true));
    let opts = StreamOpts {
        tty: tty_mode,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys,
    };
    let end = session::stream(conn, opts).await;
    if let Some(r) = resizer {
        r.abort();
    }
    if end? == StreamEnd::Detached {
        anyhow::bail!(ESCAPE_ERROR);
    }
    match wait?.await? {
        Ok((_, Some(msg))) => anyhow::bail!(msg),
        Ok((code, None)) => Ok(exit_status(code)),
        Err(e) => anyhow::bail!(e),
    }
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "", hide_default_value = true)]
    detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `start`: each container in turn, or with `-a`/`-i` one container attached before it is
/// started, exiting with its status.
pub async fn start(client: &Client, a: StartArgs) -> anyhow::Result<u8> {
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        for c in &a.containers {
            match client.post(&format!("/containers/{c}/start")).await {
                Ok(()) => println!("{c}"),
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(c.clone());
                }
            }
        }
        if !failed.is_empty() {
            anyhow::bail!("Error: failed to start containers: {}", failed.join(", "));
        }
        return Ok(0);
    }
    if a.containers.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    let c = client
        .get_json(&format!("/containers/{}/json", a.containers[0]))
        .await?;
    let id = c["Id"].as_str().unwrap_or(&a.containers[0]).to_string();
    let tty_mode = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let auto_remove = c["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false);
    let _proxy = (!tty_mode).then(|| SignalProxy::start(client, &id));
    let detach_keys = detach_keys_or_config(&a.detach_keys);
    let stdin = a.interactive && c["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let conn = attach_conn(client, &id, stdin, true, true, &detach_keys).await?;
    let opts = StreamOpts {
        tty: tty_mode,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys,
    };
    let session = tokio::spawn(session::stream(conn, opts));
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = wait_registered(client, &id, condition)
        .await
        .map_err(|e| e.to_string());
    if let Err(e) = client.post(&format!("/containers/{id}/start")).await {
        cancel(session).await;
        if auto_remove {
            wait_status(wait).await;
        }
        return Err(e.into());
    }
    let resizer = (tty_mode && tty::is_terminal(tty::STDOUT))
        .then(|| follow_tty_size(client.clone(), TtyOf::Container(id.clone()), false));
    let end = session.await;
    if let Some(r) = resizer {
        r.abort();
    }
    match end? {
        Ok(StreamEnd::Detached) => return Ok(0),
        Ok(StreamEnd::Done) => {}
        Err(e) => return Err(e),
    }
    Ok(wait_status(wait).await)
}
