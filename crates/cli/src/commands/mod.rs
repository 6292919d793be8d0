//! The command tree, named and flagged as the docker CLI's, and what each command does.

mod attach;
mod auth;
mod build;
mod commit;
mod container;
mod cp;
mod exec;
mod fs;
mod image;
mod logs;
mod netopts;
mod network;
mod opts;
mod parse;
mod ps;
mod run;
mod stats;
mod sysops;
mod system;
mod top;
mod update;
mod volume;

use clap::{Parser, Subcommand};

use crate::client::{Client, ClientError};

/// The socket berth uses when neither `-H` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "DOCKER_HOST")]
    pub host: Option<String>,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(
        short = 'l',
        long = "log-level",
        default_value = "info",
        hide_default_value = true
    )]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Each command's flags are built only when that command is parsed: building all of them took
// most of the CLI's start-up.
#[command(defer = true)]
pub enum Command {
    /// Show the berth version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Download an image from a registry
    Pull(image::PullArgs),
    /// Upload an image to a registry
    Push(image::PushArgs),
    /// List images
    Images(image::ListArgs),
    /// Remove one or more images
    Rmi(image::RemoveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Return low-level information on Docker objects
    Inspect(system::InspectArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(run::RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    #[command(override_usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]")]
    Start(attach::StartArgs),
    /// Stop one or more running containers
    #[command(override_usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]")]
    Stop(container::StopArgs),
    /// Kill one or more running containers
    #[command(override_usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]")]
    Kill(container::KillArgs),
    /// Restart one or more containers
    #[command(override_usage = "berth restart [OPTIONS] CONTAINER [CONTAINER...]")]
    Restart(container::StopArgs),
    /// Pause all processes within one or more containers
    #[command(override_usage = "berth pause CONTAINER [CONTAINER...]")]
    Pause(container::NamesArgs),
    /// Unpause all processes within one or more containers
    #[command(override_usage = "berth unpause CONTAINER [CONTAINER...]")]
    Unpause(container::NamesArgs),
    /// Remove one or more containers
    #[command(override_usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]")]
    Rm(container::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    #[command(override_usage = "berth wait CONTAINER [CONTAINER...]")]
    Wait(container::NamesArgs),
    /// Rename a container
    #[command(override_usage = "berth rename CONTAINER NEW_NAME")]
    Rename(container::RenameArgs),
    /// List containers
    #[command(override_usage = "berth ps [OPTIONS]")]
    Ps(ps::PsArgs),
    /// Execute a command in a running container
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(exec::ExecArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(cp::CpArgs),
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth build [OPTIONS] PATH | -")]
    Build(build::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Create a new image from a container's changes
    #[command(override_usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    #[command(override_usage = "berth diff CONTAINER")]
    Diff(fs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    #[command(override_usage = "berth export [OPTIONS] CONTAINER")]
    Export(fs::ExportArgs),
    /// Display the running processes of a container
    #[command(override_usage = "berth top CONTAINER [ps OPTIONS]")]
    Top(top::TopArgs),
    /// Fetch the logs of a container
    #[command(override_usage = "berth logs [OPTIONS] CONTAINER")]
    Logs(logs::LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    #[command(override_usage = "berth attach [OPTIONS] CONTAINER")]
    Attach(attach::AttachArgs),
    /// Display a live stream of container(s) resource usage statistics
    #[command(override_usage = "berth stats [OPTIONS] [CONTAINER...]")]
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(update::UpdateArgs),
    /// Manage Docker
    #[command(subcommand)]
    System(sysops::SystemCommand),
    /// Get real time events from the server
    #[command(override_usage = "berth events [OPTIONS]")]
    Events(sysops::EventsArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(network::PortArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Log in to a registry
    Login(auth::LoginArgs),
    /// Log out from a registry
    Logout(auth::LogoutArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let host = cli
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    if let Command::Logout(args) = &cli.command {
        return auth::logout(args);
    }
    if let Command::Version(args) = &cli.command {
        // `version` prints the client half even when the daemon is down.
        return system::version(&host, args).await;
    }
    let client = Client::connect(&host).await?;
    match cli.command {
        Command::Version(_) | Command::Logout(_) => unreachable!("handled above"),
        Command::Info(a) => system::info(&client, a).await,
        Command::Image(c) => image::run(&client, c).await,
        Command::Pull(a) => image::pull(&client, a).await,
        Command::Push(a) => image::push(&client, a).await,
        Command::Images(a) => image::list(&client, a).await,
        Command::Rmi(a) => image::remove(&client, a).await,
        Command::Tag(a) => image::tag(&client, a).await,
        Command::History(a) => image::history(&client, a).await,
        Command::Save(a) => image::save(&client, a).await,
        Command::Load(a) => image::load(&client, a).await,
        Command::Import(a) => image::import(&client, a).await,
        Command::Inspect(a) => system::inspect(&client, a).await,
        Command::Login(a) => auth::login(&client, a).await,
        Command::Container(c) => container::run(&client, c).await,
        Command::Run(a) => run::run(&client, a).await,
        Command::Create(a) => run::create(&client, a).await,
        Command::Start(a) => attach::start(&client, a).await,
        Command::Stop(a) => container::run(&client, container::ContainerCommand::Stop(a)).await,
        Command::Kill(a) => container::run(&client, container::ContainerCommand::Kill(a)).await,
        Command::Restart(a) => {
            container::run(&client, container::ContainerCommand::Restart(a)).await
        }
        Command::Pause(a) => container::run(&client, container::ContainerCommand::Pause(a)).await,
        Command::Unpause(a) => {
            container::run(&client, container::ContainerCommand::Unpause(a)).await
        }
        Command::Rm(a) => container::run(&client, container::ContainerCommand::Rm(a)).await,
        Command::Wait(a) => container::run(&client, container::ContainerCommand::Wait(a)).await,
        Command::Rename(a) => container::run(&client, container::ContainerCommand::Rename(a)).await,
        Command::Ps(a) => ps::ps(&client, a).await,
        Command::Logs(a) => logs::logs(&client, a).await,
        Command::Exec(a) => exec::exec(&client, a).await,
        Command::Top(a) => top::top(&client, a).await,
        Command::Diff(a) => fs::diff(&client, a).await,
        Command::Cp(a) => cp::cp(&client, a).await,
        Command::Commit(a) => commit::commit(&client, a).await,
        Command::Build(a) => build::build(&client, a).await,
        Command::Builder(c) => build::builder(&client, c).await,
        Command::Export(a) => fs::export(&client, a).await,
        Command::Attach(a) => attach::attach(&client, a).await,
        Command::Volume(c) => volume::run(&client, c).await,
        Command::Network(c) => network::run(&client, c).await,
        Command::Port(a) => network::port(&client, a).await,
        Command::Stats(a) => stats::stats(&client, a).await,
        Command::Update(a) => update::update(&client, a).await,
        Command::System(c) => sysops::run(&client, c).await,
        Command::Events(a) => sysops::events(&client, a).await,
    }
}

/// A failure that decides its own exit status and exact text (possibly none), as the docker
/// CLI's `StatusError` does: `run` exits 125/126/127 with "berth: …" and a help hint, a
/// container's non-zero exit status is passed on silently.
#[derive(Debug)]
pub struct StatusError {
    pub message: String,
    pub code: u8,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// An error that exits with `code` after printing `message` (nothing if it is empty).
pub fn status_error(code: u8, message: impl Into<String>) -> anyhow::Error {
    StatusError {
        message: message.into(),
        code,
    }
    .into()
}

/// docker's `withHelp`: "berth: <error>" and where to read about the command.
pub fn with_help(message: &str, command: &str) -> String {
    format!("berth: {message}\n\nRun 'berth {command} --help' for more information")
}

/// The message printed for an error, as the docker CLI words it.
pub fn describe(e: &anyhow::Error) -> String {
    if let Some(ce) = e.downcast_ref::<ClientError>() {
        return ce.to_string();
    }
    if let Some(se) = e.downcast_ref::<StatusError>() {
        return se.message.clone();
    }
    format!("{e:#}")
}

/// The exit status for an error: its own for a [`StatusError`], 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<StatusError>().map_or(1, |s| s.code)
}

/// A container exit status as a process exit status (-1 becomes 255, as `os.Exit(-1)` does).
pub fn exit_status(code: i64) -> u8 {
    code.rem_euclid(256) as u8
}

/// Errors collected over several arguments (rmi a b c): reported together at the end.
pub fn report(errors: Vec<String>) -> u8 {
    for e in &errors {
        eprintln!("{e}");
    }
    u8::from(!errors.is_empty())
}

/// Asks `warning` and whether to go on; `true` for yes. docker treats anything else as a
/// cancellation: nothing printed, exit status 0.
pub fn confirm(warning: &str) -> std::io::Result<bool> {
    use std::io::Write as _;
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
