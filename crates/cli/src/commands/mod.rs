//! The command tree, named and flagged as the docker CLI's, and what each command does.

mod auth;
mod image;
mod system;

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
    }
}

/// The message printed for an error, as the docker CLI words it.
pub fn describe(e: &anyhow::Error) -> String {
    if let Some(ce) = e.downcast_ref::<ClientError>() {
        return ce.to_string();
    }
    format!("{e:#}")
}

/// Errors collected over several arguments (rmi a b c): reported together at the end.
pub fn report(errors: Vec<String>) -> u8 {
    for e in &errors {
        eprintln!("{e}");
    }
    u8::from(!errors.is_empty())
}
