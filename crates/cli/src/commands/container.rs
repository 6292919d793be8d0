//! `container …` and the container commands that act on existing containers: stop, kill,
//! restart, pause, unpause, rm, wait, rename, inspect, prune. `run`/`create` live in run.rs,
//! `start`/`attach` in attach.rs, `ls` in ps.rs, `logs` in logs.rs.

use std::io::Write;

use berth_image::progress::human_size;
use clap::{Args, Subcommand};
use hyper::Method;

use crate::client::{q, Client, ClientError};

use super::attach::{AttachArgs, StartArgs};
use super::image::filters_json;
use super::logs::LogsArgs;
use super::ps::PsArgs;
use super::report;
use super::run::{CreateArgs, RunArgs};

#[derive(Debug, Subcommand)]
// Each command's flags are built only when that command is parsed: building all of them took
// most of the CLI's start-up.
#[command(defer = true)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "berth container attach [OPTIONS] CONTAINER")]
    Attach(AttachArgs),
    /// Execute a command in a running container
    #[command(override_usage = "berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(super::exec::ExecArgs),
    /// Display the running processes of a container
    #[command(override_usage = "berth container top CONTAINER [ps OPTIONS]")]
    Top(super::top::TopArgs),
    /// Create a new image from a container's changes
    #[command(override_usage = "berth container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(super::commit::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(override_usage = "berth container cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-")]
    Cp(super::cp::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "berth container diff CONTAINER")]
    Diff(super::fs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "berth container export [OPTIONS] CONTAINER")]
    Export(super::fs::ExportArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(CreateArgs),
    /// Display detailed information on one or more containers
    #[command(override_usage = "berth container inspect [OPTIONS] CONTAINER [CONTAINER...]")]
    Inspect(InspectArgs),
    /// Kill one or more running containers
    #[command(override_usage = "berth container kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(KillArgs),
    /// Fetch the logs of a container
    #[command(override_usage = "berth container logs [OPTIONS] CONTAINER")]
    Logs(LogsArgs),
    /// List containers
    #[command(
        visible_aliases = ["ps", "list"],
        override_usage = "berth container ls [OPTIONS]"
    )]
    Ls(PsArgs),
    /// Pause all processes within one or more containers
    #[command(override_usage = "berth container pause CONTAINER [CONTAINER...]")]
    Pause(NamesArgs),
    /// Remove all stopped containers
    #[command(override_usage = "berth container prune [OPTIONS]")]
    Prune(PruneArgs),
    /// Rename a container
    #[command(override_usage = "berth container rename CONTAINER NEW_NAME")]
    Rename(RenameArgs),
    /// Restart one or more containers
    #[command(override_usage = "berth container restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(
        visible_alias = "remove",
        override_usage = "berth container rm [OPTIONS] CONTAINER [CONTAINER...]"
    )]
    Rm(RmArgs),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(RunArgs),
    /// Start one or more stopped containers
    #[command(override_usage = "berth container start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(StartArgs),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "berth container port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(super::network::PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    #[command(override_usage = "berth container stats [OPTIONS] [CONTAINER...]")]
    Stats(super::stats::StatsArgs),
    /// Stop one or more running containers
    #[command(override_usage = "berth container stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(StopArgs),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth container update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(super::update::UpdateArgs),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "berth container unpause CONTAINER [CONTAINER...]")]
    Unpause(NamesArgs),
    /// Block until one or more containers stop, then print their exit codes
    #[command(override_usage = "berth container wait CONTAINER [CONTAINER...]")]
    Wait(NamesArgs),
}

/// Runs one `container …` subcommand.
pub async fn run(client: &Client, cmd: ContainerCommand) -> anyhow::Result<u8> {
    match cmd {
        ContainerCommand::Attach(a) => super::attach::attach(client, a).await,
        ContainerCommand::Create(a) => super::run::create(client, a).await,
        ContainerCommand::Exec(a) => super::exec::exec(client, a).await,
        ContainerCommand::Top(a) => super::top::top(client, a).await,
        ContainerCommand::Diff(a) => super::fs::diff(client, a).await,
        ContainerCommand::Cp(a) => super::cp::cp(client, a).await,
        ContainerCommand::Commit(a) => super::commit::commit(client, a).await,
        ContainerCommand::Export(a) => super::fs::export(client, a).await,
        ContainerCommand::Inspect(a) => inspect(client, a).await,
        ContainerCommand::Kill(a) => kill(client, a).await,
        ContainerCommand::Logs(a) => super::logs::logs(client, a).await,
        ContainerCommand::Ls(a) => super::ps::ps(client, a).await,
        ContainerCommand::Pause(a) => each(client, &a.containers, "pause", "").await,
        ContainerCommand::Prune(a) => prune(client, a).await,
        ContainerCommand::Rename(a) => rename(client, a).await,
        ContainerCommand::Restart(a) => restart(client, a).await,
        ContainerCommand::Rm(a) => remove(client, a).await,
        ContainerCommand::Run(a) => super::run::run(client, a).await,
        ContainerCommand::Start(a) => super::attach::start(client, a).await,
        ContainerCommand::Stats(a) => super::stats::stats(client, a).await,
        ContainerCommand::Port(a) => super::network::port(client, a).await,
        ContainerCommand::Stop(a) => stop(client, a).await,
        ContainerCommand::Update(a) => super::update::update(client, a).await,
        ContainerCommand::Unpause(a) => each(client, &a.containers, "unpause", "").await,
        ContainerCommand::Wait(a) => wait(client, a).await,
    }
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// POSTs `/containers/{name}/{action}{query}` for every name at once, then prints the names
/// that succeeded (in argument order) and the errors after them, as the docker CLI's
/// `parallelOperation` users do.
async fn each(client: &Client, names: &[String], action: &str, query: &str) -> anyhow::Result<u8> {
    let results = futures::future::join_all(names.iter().map(|n| {
        let path = format!("/containers/{n}/{action}{query}");
        async move { client.post(&path).await }
    }))
    .await;
    Ok(print_outcomes(names, results))
}

/// Docker's way of answering a verb on several containers: each name that worked on a line,
/// then the errors together.
fn print_outcomes<E: std::fmt::Display>(
    names: &[String],
    results: impl IntoIterator<Item = Result<(), E>>,
) -> u8 {
    let mut errors = Vec::new();
    for (n, r) in names.iter().zip(results) {
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    report(errors)
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(
        short = 's',
        long = "signal",
        default_value = "",
        hide_default_value = true
    )]
    signal: String,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", alias = "time", allow_hyphen_values = true, value_parser = super::parse::flag("-t, --timeout", super::parse::go_int))]
    timeout: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `?signal=…&t=…` (keys sorted) for stop and restart.
fn stop_query(a: &StopArgs) -> String {
    let mut query = Vec::new();
    if !a.signal.is_empty() {
        query.push(format!("signal={}", q(&a.signal)));
    }
    if let Some(t) = a.timeout {
        query.push(format!("t={t}"));
    }
    if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    }
}

async fn stop(client: &Client, a: StopArgs) -> anyhow::Result<u8> {
    each(client, &a.containers, "stop", &stop_query(&a)).await
}

/// Restarts one after another, as the docker CLI does.
async fn restart(client: &Client, a: StopArgs) -> anyhow::Result<u8> {
    let query = stop_query(&a);
    let mut results = Vec::new();
    for n in &a.containers {
        let r = client
            .post(&format!("/containers/{n}/restart{query}"))
            .await;
        results.push(r);
    }
    Ok(print_outcomes(&a.containers, results))
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(
        short = 's',
        long = "signal",
        default_value = "",
        hide_default_value = true
    )]
    signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

async fn kill(client: &Client, a: KillArgs) -> anyhow::Result<u8> {
    let query = if a.signal.is_empty() {
        String::new()
    } else {
        format!("?signal={}", q(&a.signal))
    };
    each(client, &a.containers, "kill", &query).await
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

async fn remove(client: &Client, a: RmArgs) -> anyhow::Result<u8> {
    let mut query = Vec::new();
    for (on, k) in [(a.force, "force"), (a.link, "link"), (a.volumes, "v")] {
        if on {
            query.push(format!("{k}=1"));
        }
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let results = futures::future::join_all(a.containers.iter().map(|n| {
        let name = n.trim_matches('/').to_string();
        let path = format!("/containers/{name}{query}");
        async move {
            if name.is_empty() {
                return Err(anyhow::anyhow!("container name cannot be empty"));
            }
            let resp = client
                .request(Method::DELETE, &path, crate::client::empty(), &[])
                .await?;
            crate::client::read_json(resp).await?;
            Ok(())
        }
    }))
    .await;
    let mut errors = Vec::new();
    for (n, r) in a.containers.iter().zip(results) {
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                let not_found = matches!(
                    e.downcast_ref::<ClientError>(),
                    Some(ClientError::Daemon { status, .. }) if status.as_u16() == 404
                );
                // With -f a container that is already gone is only mentioned.
                if a.force && not_found {
                    eprintln!("{}", super::describe(&e));
                } else {
                    errors.push(super::describe(&e));
                }
            }
        }
    }
    Ok(report(errors))
}

/// Waits for each container in turn and prints its exit status.
async fn wait(client: &Client, a: NamesArgs) -> anyhow::Result<u8> {
    let mut errors = Vec::new();
    for n in &a.containers {
        let outcome = match super::attach::wait_registered(client, n, "").await {
            Ok(h) => h.await?,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok((code, _)) => println!("{code}"),
            Err(e) => errors.push(e),
        }
    }
    Ok(report(errors))
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    old: String,
    #[arg(value_name = "NEW_NAME")]
    new: String,
}

async fn rename(client: &Client, a: RenameArgs) -> anyhow::Result<u8> {
    let (old, new) = (a.old.trim(), a.new.trim());
    if old.is_empty() || new.is_empty() {
        anyhow::bail!("Error: Neither old nor new names may be empty");
    }
    if let Err(e) = client
        .post(&format!("/containers/{old}/rename?name={}", q(new)))
        .await
    {
        eprintln!("{e}");
        anyhow::bail!("Error: failed to rename container named {old}");
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    names: Vec<String>,
}

async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<u8> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let query = if a.size { "?size=1" } else { "" };
    for n in &a.names {
        match client
            .get_json(&format!("/containers/{n}/json{query}"))
            .await
        {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspect(&found, a.format.as_deref())?;
    Ok(report(errors))
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        print!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        // docker treats a refusal as a cancellation: nothing printed, exit status 0.
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let path = if a.filter.is_empty() {
        "/containers/prune".to_string()
    } else {
        format!(
            "/containers/prune?filters={}",
            q(&filters_json(&a.filter, &[])?)
        )
    };
    let report = client.send_json(Method::POST, &path, None).await?;
    let deleted: Vec<&str> = report["ContainersDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    let mut reclaimed = 0.0;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
        reclaimed = report["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    println!("Total reclaimed space: {}", human_size(reclaimed, 4));
    Ok(0)
}
