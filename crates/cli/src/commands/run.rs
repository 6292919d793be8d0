//! `run` and `create`: the create request (pulling the image when the daemon does not have
//! it), then for `run` the attach, wait, start, resize sequence the docker CLI uses, ending with
//! the container's exit status.

use berth_image::reference::ReferenceError;
use berth_image::ImageRef;
use clap::{ArgAction, Args};
use hyper::Method;
use serde_json::Value;

use crate::client::{q, Client, ClientError};
use crate::session::{self, StreamEnd, StreamOpts};
use crate::tty;

use super::attach::{
    attach_conn, cancel, detach_keys_or_config, follow_tty_size, wait_registered, wait_status,
    SignalProxy, TtyOf,
};
use super::opts::{AttachSpec, ContainerOpts};
use super::{describe, status_error, with_help};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = super::parse::flag("--sig-proxy", super::parse::go_bool))]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "", hide_default_value = true)]
    detach_keys: String,
    #[command(flatten)]
    opts: ContainerOpts,
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
    args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    opts: ContainerOpts,
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, trailing_var_arg = true, value_name = "IMAGE")]
    args: Vec<String>,
}

fn validate_pull(v: &str) -> Result<(), String> {
    match v {
        "always" | "missing" | "never" | "" => Ok(()),
        _ => Err(format!(
            "invalid pull option: '{v}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The create body for `args` (image, then command), or the 125 error docker gives for bad
/// flag values, worded for `command` ("run" or "create").
fn body_for(opts: &ContainerOpts, args: &[String], command: &str) -> anyhow::Result<Value> {
    let invalid = |e: String| status_error(125, with_help(&e, command));
    validate_pull(&opts.pull).map_err(invalid)?;
    opts.create_body(&args[0], &args[1..], &env_lookup, tty::size(tty::STDOUT))
        .map_err(invalid)
}

/// `create`: prints the new container's ID.
pub async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<u8> {
    let body = body_for(&a.opts, &a.args, "create")?;
    let id = create_container(client, &body, &a.opts).await?;
    println!("{id}");
    Ok(0)
}

/// docker's `toStatusError`: errors from the engine exit 125, except that a start failing
/// because the command cannot be found exits 127, and because it cannot be run exits 126.
fn to_status_error(e: anyhow::Error) -> anyhow::Error {
    let msg = describe(&e);
    let code = if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    };
    status_error(code, with_help(&msg, "run"))
}

/// `run`: create, then attach (unless detached), wait, start and stream; exits with the
/// container's status, 125/126/127 when berth or the daemon could not run it.
pub async fn run(client: &Client, a: RunArgs) -> anyhow::Result<u8> {
    let mut body = body_for(&a.opts, &a.args, "run")?;
    if a.detach {
        if !a.opts.attach.is_empty() {
            anyhow::bail!("conflicting options: cannot specify both --attach and --detach");
        }
        for k in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
            body[k] = Value::Bool(false);
        }
    }
    let spec = AttachSpec::of(&body);
    if !a.detach && spec.tty && spec.stdin && !tty::is_terminal(tty::STDIN) {
        anyhow::bail!("the input device is not a TTY");
    }
    let id = create_container(client, &body, &a.opts)
        .await
        .map_err(to_status_error)?;
    let _proxy = a.sig_proxy.then(|| SignalProxy::start(client, &id));
    if !spec.any() {
        println!("{id}");
    }
    // With --rm the daemon removes the container; waiting for that means the name is free
    // again by the time we exit.
    let condition = if spec.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    // The attach and the wait are both in place before the start, as the docker CLI has
    // them; they are set up side by side, since neither needs the other.
    let detach_keys = detach_keys_or_config(&a.detach_keys);
    let attach = async {
        if !spec.any() {
            return Ok(None);
        }
        attach_conn(
            client,
            &id,
            spec.stdin,
            spec.stdout,
            spec.stderr,
            &detach_keys,
        )
        .await
        .map(Some)
    };
    let (conn, wait) = tokio::join!(attach, wait_registered(client, &id, condition));
    let wait = wait.map_err(|e| e.to_string());
    let session = match conn {
        Ok(Some(conn)) => {
            let opts = StreamOpts {
                tty: spec.tty,
                stdin: spec.stdin,
                stdout: spec.stdout,
                stderr: spec.stderr,
                detach_keys,
            };
            Some(tokio::spawn(session::stream(conn, opts)))
        }
        Ok(None) => None,
        Err(e) => {
            if let Ok(w) = wait {
                w.abort();
            }
            return Err(e.into());
        }
    };
    if let Err(e) = client.post(&format!("/containers/{id}/start")).await {
        if let Some(s) = session {
            cancel(s).await;
        }
        if spec.auto_remove {
            wait_status(wait).await;
        }
        return Err(to_status_error(e.into()));
    }
    let Some(mut session) = session else {
        if let Ok(w) = wait {
            w.abort();
        }
        return Ok(0);
    };
    let resizer = (spec.tty && tty::is_terminal(tty::STDOUT))
        .then(|| follow_tty_size(client.clone(), TtyOf::Container(id.clone()), false));
    let mut status = tokio::spawn(wait_status(wait));
    let result = tokio::select! {
        end = &mut session => match end? {
            Ok(StreamEnd::Detached) => Ok(0),
            Ok(StreamEnd::Done) => Ok(status.await?),
            Err(e) => Err(e),
        },
        code = &mut status => {
            // Output may still be in flight: keep copying it unless none was attached.
            if !spec.stdout && !spec.stderr {
                cancel(session).await;
            } else {
                let _ = session.await;
            }
            Ok(code?)
        }
    };
    if let Some(r) = resizer {
        r.abort();
    }
    result
}

/// A `--cidfile`: refused if it exists, created before the container, removed again if no ID
/// was written to it.
struct CidFile {
    path: String,
    written: bool,
}

impl CidFile {
    fn new(path: &str) -> anyhow::Result<Option<CidFile>> {
        if path.is_empty() {
            return Ok(None);
        }
        if std::path::Path::new(path).exists() {
            anyhow::bail!("container ID file found, make sure the other container isn't running or delete {path}");
        }
        std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("failed to create the container ID file: {e}"))?;
        Ok(Some(CidFile {
            path: path.to_string(),
            written: false,
        }))
    }

    fn write(&mut self, id: &str) -> anyhow::Result<()> {
        std::fs::write(&self.path, id)
            .map_err(|e| anyhow::anyhow!("failed to write the container ID to the file: {e}"))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `--platform` as the Go client sends it: `os/arch[/variant]`, normalised.
fn normalize_platform(p: &str) -> anyhow::Result<String> {
    let lower = p.to_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let known_os = |s: &str| {
        matches!(
            s,
            "linux"
                | "windows"
                | "darwin"
                | "freebsd"
                | "netbsd"
                | "openbsd"
                | "solaris"
                | "illumos"
        )
    };
    let (os, arch, variant) = match parts.as_slice() {
        [one] if known_os(one) => (one.to_string(), host_arch().to_string(), String::new()),
        [one] => ("linux".to_string(), one.to_string(), String::new()),
        [os, arch] => (os.to_string(), arch.to_string(), String::new()),
        [os, arch, variant] => (os.to_string(), arch.to_string(), variant.to_string()),
        _ => anyhow::bail!("error parsing specified platform: {p:?}: invalid platform specifier"),
    };
    let (arch, variant) = match (arch.as_str(), variant.as_str()) {
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64", if v == "v1" { "" } else { v }),
        ("aarch64" | "arm64", "v8" | "8") => ("arm64", ""),
        ("aarch64" | "arm64", v) => ("arm64", v),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "") => ("arm", "v7"),
        ("arm", v) => ("arm", v),
        ("i386", v) => ("386", v),
        (a, v) => (a, v),
    };
    Ok([os.as_str(), arch, variant]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/"))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        o => o,
    }
}

/// A name for the image the user typed, if it is one: image IDs (64 hex, or `sha256:…`) are
/// not names and are never pulled.
fn image_name(image: &str) -> anyhow::Result<Option<ImageRef>> {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex(image) || image.strip_prefix("sha256:").is_some_and(is_hex) {
        return Ok(None);
    }
    match ImageRef::parse(image) {
        Ok(r) => Ok(Some(r.with_default_tag())),
        Err(ReferenceError::HexName(_)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// `POST /containers/create`; when the image is missing (any 404, as the docker CLI decides)
/// and `--pull=missing`, says so, pulls it with progress on stderr, and tries once more.
pub async fn create_container(
    client: &Client,
    body: &Value,
    o: &ContainerOpts,
) -> anyhow::Result<String> {
    let mut cid = CidFile::new(&o.cidfile)?;
    let image = body["Image"].as_str().unwrap_or_default();
    let named = image_name(image)?;
    let platform = match o.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(normalize_platform(p)?),
        None => None,
    };
    let pull = |r: ImageRef| {
        let platform = platform.clone();
        async move {
            let terminal = tty::is_terminal(tty::STDERR);
            if o.quiet {
                super::image::pull_to(client, &r, platform.as_deref(), &mut std::io::sink(), false)
                    .await
            } else {
                super::image::pull_to(
                    client,
                    &r,
                    platform.as_deref(),
                    &mut std::io::stderr(),
                    terminal,
                )
                .await
            }
        }
    };
    if o.pull == "always" {
        if let Some(r) = &named {
            pull(r.clone()).await?;
        }
    }
    let mut query = Vec::new();
    if !o.name.is_empty() {
        query.push(format!("name={}", q(&o.name)));
    }
    if let Some(p) = &platform {
        query.push(format!("platform={}", q(p)));
    }
    let path = if query.is_empty() {
        "/containers/create".to_string()
    } else {
        format!("/containers/create?{}", query.join("&"))
    };
    let resp = match client.send_json(Method::POST, &path, Some(body)).await {
        Ok(v) => v,
        Err(ClientError::Daemon { status, .. })
            if status.as_u16() == 404 && named.is_some() && o.pull == "missing" =>
        {
            let r = named.clone().expect("checked above");
            if !o.quiet {
                eprintln!("Unable to find image '{}' locally", r.familiar());
            }
            pull(r).await?;
            client.send_json(Method::POST, &path, Some(body)).await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut warnings: Vec<String> = resp["Warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect();
    if let Some(ip) = body["HostConfig"]["Dns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str()?.parse::<std::net::IpAddr>().ok())
        .find(|ip| ip.is_loopback())
    {
        warnings.push(format!("Localhost DNS ({ip}) may fail in containers."));
    }
    for w in &warnings {
        eprintln!("WARNING: {w}");
    }
    let id = resp["Id"].as_str().unwrap_or_default().to_string();
    if let Some(c) = &mut cid {
        c.write(&id)?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_for_start_failures() {
        let code = |m: &str| {
            let e = to_status_error(anyhow::anyhow!(m.to_string()));
            super::super::exit_code(&e)
        };
        assert_eq!(
            code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(code("open /x: no such file or directory"), 127);
        assert_eq!(code("exec /etc: permission denied"), 126);
        assert_eq!(code("No such image: x"), 125);
        let e = to_status_error(anyhow::anyhow!("boom"));
        assert_eq!(
            describe(&e),
            "berth: boom\n\nRun 'berth run --help' for more information"
        );
    }

    #[test]
    fn platforms_and_image_names() {
        assert_eq!(normalize_platform("linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("linux/x86_64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("linux/arm64/v8").unwrap(), "linux/arm64");
        assert_eq!(normalize_platform("linux/arm").unwrap(), "linux/arm/v7");
        assert_eq!(normalize_platform("arm64").unwrap(), "linux/arm64");
        assert!(normalize_platform("a/b/c/d").is_err());
        assert_eq!(
            image_name("busybox").unwrap().unwrap().familiar(),
            "busybox:latest"
        );
        assert!(image_name(&"a".repeat(64)).unwrap().is_none());
        assert!(image_name(&format!("sha256:{}", "b".repeat(64)))
            .unwrap()
            .is_none());
        assert!(image_name("Busybox").is_err());
        assert!(validate_pull("sometimes").is_err());
    }
}
