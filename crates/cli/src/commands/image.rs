//! `image …` and its short forms: pull, push, ls, inspect, tag, rm, history, save, load,
//! import, prune.

use std::collections::BTreeMap;
use std::io::Write;

use berth_image::progress::human_size;
use berth_image::ImageRef;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{empty, q, streaming, Client};
use crate::config;
use crate::format::{ellipsis, since, Output};
use crate::progress::{display, stdout_is_terminal};

#[derive(Debug, Subcommand)]
// Each command's flags are built only when that command is parsed: building all of them took
// most of the CLI's start-up.
#[command(defer = true)]
pub enum ImageCommand {
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RemoveArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

pub async fn run(client: &Client, cmd: ImageCommand) -> anyhow::Result<u8> {
    match cmd {
        ImageCommand::Pull(a) => pull(client, a).await,
        ImageCommand::Push(a) => push(client, a).await,
        ImageCommand::Ls(a) => list(client, a).await,
        ImageCommand::Inspect(a) => inspect(client, a).await,
        ImageCommand::Tag(a) => tag(client, a).await,
        ImageCommand::Rm(a) => remove(client, a).await,
        ImageCommand::History(a) => history(client, a).await,
        ImageCommand::Save(a) => save(client, a).await,
        ImageCommand::Load(a) => load(client, a).await,
        ImageCommand::Import(a) => import(client, a).await,
        ImageCommand::Prune(a) => prune(client, a).await,
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM")]
    platform: Option<String>,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

/// Parses a reference on the client side, failing as the docker CLI does.
fn parse_ref(s: &str) -> anyhow::Result<ImageRef> {
    ImageRef::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn pull(client: &Client, a: PullArgs) -> anyhow::Result<u8> {
    let mut r = parse_ref(&a.name)?;
    if a.all_tags {
        anyhow::bail!("berth pull --all-tags is not implemented yet");
    }
    if r.tag().is_none() && r.digest().is_none() {
        r = r.with_default_tag();
        if !a.quiet {
            println!("Using default tag: {}", berth_image::reference::DEFAULT_TAG);
        }
    }
    pull_ref(client, &r, a.platform.as_deref(), a.quiet).await?;
    println!("{r}");
    Ok(0)
}

/// Pulls `r` (tag or digest already set), showing progress on stdout unless `quiet`.
pub async fn pull_ref(
    client: &Client,
    r: &ImageRef,
    platform: Option<&str>,
    quiet: bool,
) -> anyhow::Result<()> {
    if quiet {
        pull_to(client, r, platform, &mut std::io::sink(), false).await
    } else {
        pull_to(
            client,
            r,
            platform,
            &mut std::io::stdout(),
            stdout_is_terminal(),
        )
        .await
    }
}

/// Pulls `r`, showing progress on `out` (`run` and `create` show it on stderr, keeping stdout
/// for the container ID); `terminal` selects the in-place progress bars.
pub async fn pull_to(
    client: &Client,
    r: &ImageRef,
    platform: Option<&str>,
    mut out: &mut dyn Write,
    terminal: bool,
) -> anyhow::Result<()> {
    let tag = r
        .digest()
        .map(|d| d.to_string())
        .or_else(|| r.tag().map(str::to_string))
        .unwrap_or_default();
    let mut path = format!(
        "/images/create?fromImage={}&tag={}",
        q(&r.familiar_name()),
        q(&tag)
    );
    if let Some(p) = platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    let auth = config::registry_auth_header(r.domain());
    let resp = client
        .request(Method::POST, &path, empty(), &[("X-Registry-Auth", auth)])
        .await?;
    display(resp.into_body(), &mut out, terminal).await?;
    Ok(())
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

pub async fn push(client: &Client, a: PushArgs) -> anyhow::Result<u8> {
    let mut r = parse_ref(&a.name)?;
    if r.tag().is_none() && !a.all_tags {
        r = r.with_default_tag();
        if !a.quiet {
            println!("Using default tag: {}", berth_image::reference::DEFAULT_TAG);
        }
    }
    let path = format!(
        "/images/{}/push?tag={}",
        r.repository().familiar(),
        q(r.tag().unwrap_or(""))
    );
    let auth = config::registry_auth_header(r.domain());
    let resp = client
        .request(Method::POST, &path, empty(), &[("X-Registry-Auth", auth)])
        .await?;
    let mut out: Box<dyn Write> = if a.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    display(resp.into_body(), &mut out, stdout_is_terminal() && !a.quiet).await?;
    if a.quiet {
        println!("{r}");
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Show digests
    #[arg(long = "digests")]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// `--filter k=v` flags as the API's filters JSON, in the encoding the docker CLI sends
/// (`{"name":{"x":true}}`, keys sorted).
pub fn filters_json(flags: &[String], extra: &[(&str, String)]) -> anyhow::Result<String> {
    let mut m: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in flags {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    for (k, v) in extra {
        m.entry(k.to_string()).or_default().insert(v.clone(), true);
    }
    Ok(serde_json::to_string(&m)?)
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

fn split_repo_tag(r: &str) -> (String, String) {
    match ImageRef::parse(r) {
        Ok(p) => (p.familiar_name(), p.tag().unwrap_or("<none>").to_string()),
        Err(_) => (r.to_string(), "<none>".into()),
    }
}

/// One row per tag, as `docker images` prints: repositories known only by digest get a
/// `<none>` tag, untagged images `<none>` twice.
fn image_rows(img: &Value, no_trunc: bool) -> Vec<Value> {
    let id = img["Id"].as_str().unwrap_or("");
    let mut repos: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for t in img["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (repo, tag) = split_repo_tag(t);
        repos.entry(repo).or_default().0.push(tag);
    }
    for d in img["RepoDigests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some((repo, digest)) = d.split_once('@') {
            repos
                .entry(repo.to_string())
                .or_default()
                .1
                .push(digest.to_string());
        }
    }
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_f64().unwrap_or(0.0);
    let row = |repo: &str, tag: &str, digest: &str| {
        json!({
            "Containers": "N/A", "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
            "CreatedSince": since(created), "Digest": digest, "ID": short_id(id, no_trunc), "Repository": repo,
            "SharedSize": "N/A", "Size": human_size(size, 3), "Tag": tag, "UniqueSize": "N/A", "VirtualSize": human_size(size, 3)
        })
    };
    if repos.is_empty() {
        return vec![row("<none>", "<none>", "<none>")];
    }
    let mut out = Vec::new();
    for (repo, (tags, digests)) in repos {
        let digest = digests.first().cloned().unwrap_or_else(|| "<none>".into());
        if tags.is_empty() {
            out.push(row(&repo, "<none>", &digest));
        }
        for t in tags {
            out.push(row(&repo, &t, &digest));
        }
    }
    out
}

fn image_header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID",
        "CreatedSince" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "SharedSize" => "SHARED SIZE",
        "UniqueSize" => "UNIQUE SIZE",
        "VirtualSize" => "VIRTUAL SIZE",
        other => return other.to_uppercase(),
    }
    .to_string()
}

pub async fn list(client: &Client, a: ListArgs) -> anyhow::Result<u8> {
    let extra: Vec<(&str, String)> = a
        .reference
        .iter()
        .map(|r| ("reference", r.clone()))
        .collect();
    let path = format!(
        "/images/json?all={}&filters={}",
        u8::from(a.all),
        q(&filters_json(&a.filter, &extra)?)
    );
    let images = client.get_json(&path).await?;
    let rows: Vec<Value> = images
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| image_rows(i, a.no_trunc))
        .collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let default = if a.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    print!(
        "{}",
        Output::new(a.format.as_deref(), default)?.render(&rows, image_header)?
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    names: Vec<String>,
}

pub async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<u8> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match client.get_json(&format!("/images/{n}/json")).await {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspect(&found, a.format.as_deref())?;
    Ok(super::report(errors))
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

pub async fn tag(client: &Client, a: TagArgs) -> anyhow::Result<u8> {
    let target = ImageRef::parse(&a.target).map_err(|e| {
        anyhow::anyhow!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            a.target
        )
    })?;
    if target.digest().is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let path = format!(
        "/images/{}/tag?repo={}&tag={}",
        a.source,
        q(&target.familiar_name()),
        q(target.tag().unwrap_or("latest"))
    );
    client.request(Method::POST, &path, empty(), &[]).await?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    names: Vec<String>,
}

fn print_delete_items(items: &Value) {
    for item in items.as_array().into_iter().flatten() {
        if let Some(u) = item.get("Untagged").and_then(Value::as_str) {
            println!("Untagged: {u}");
        }
        if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
            println!("Deleted: {d}");
        }
    }
}

pub async fn remove(client: &Client, a: RemoveArgs) -> anyhow::Result<u8> {
    let mut errors = Vec::new();
    for n in &a.names {
        let path = format!(
            "/images/{n}?force={}&noprune={}",
            u8::from(a.force),
            u8::from(a.no_prune)
        );
        match client.send_json(Method::DELETE, &path, None).await {
            Ok(items) => print_delete_items(&items),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok(super::report(errors))
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    #[arg(value_name = "IMAGE")]
    name: String,
}

/// The docker CLI shows no age for history entries dated at or before 2000-01-01.
const HISTORY_EPOCH: i64 = 946_684_800;

pub async fn history(client: &Client, a: HistoryArgs) -> anyhow::Result<u8> {
    let entries = client
        .get_json(&format!("/images/{}/history", a.name))
        .await?;
    let rows: Vec<Value> = entries
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("");
            let id = if id.starts_with("sha256:") {
                short_id(id, a.no_trunc)
            } else {
                id.to_string()
            };
            let created = h["Created"].as_i64().unwrap_or(0);
            let created_at = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            let since_s = if !a.human {
                created_at.clone()
            } else if created <= HISTORY_EPOCH {
                "N/A".into()
            } else {
                since(created)
            };
            let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let size = h["Size"].as_f64().unwrap_or(0.0);
            json!({
                "ID": id, "CreatedSince": since_s, "CreatedAt": created_at,
                "CreatedBy": if a.no_trunc { by } else { ellipsis(&by, 45) },
                "Size": if a.human { human_size(size, 3) } else { (size as u64).to_string() },
                "Comment": h["Comment"].as_str().unwrap_or("")
            })
        })
        .collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let header = |f: &str| match f {
        "ID" => "IMAGE".to_string(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        other => other.to_uppercase(),
    };
    let default = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    print!(
        "{}",
        Output::new(a.format.as_deref(), default)?.render(&rows, header)?
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    names: Vec<String>,
}

pub async fn save(client: &Client, a: SaveArgs) -> anyhow::Result<u8> {
    use http_body_util::BodyExt;
    if a.output.is_none() && stdout_is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let names: Vec<String> = a.names.iter().map(|n| format!("names={}", q(n))).collect();
    let resp = client
        .request(
            Method::GET,
            &format!("/images/get?{}", names.join("&")),
            empty(),
            &[],
        )
        .await?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(
            std::fs::File::create(p).map_err(|e| anyhow::anyhow!("failed to save image: {e}"))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame?.data_ref() {
            out.write_all(d)?;
        }
    }
    out.flush()?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

pub async fn load(client: &Client, a: LoadArgs) -> anyhow::Result<u8> {
    let body = match &a.input {
        Some(p) => streaming(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| anyhow::anyhow!("open {p}: {e}"))?,
        ),
        None => {
            // SAFETY: isatty on stdin.
            if unsafe { libc::isatty(0) } == 1 {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            streaming(tokio::io::stdin())
        }
    };
    let path = format!("/images/load?quiet={}", u8::from(a.quiet));
    post_tar(client, &path, body).await
}

/// Sends a tar body (load, import) and prints the daemon's answer lines.
async fn post_tar(client: &Client, path: &str, body: crate::client::Body) -> anyhow::Result<u8> {
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let resp = client.request(Method::POST, path, body, &headers).await?;
    display(resp.into_body(), &mut std::io::stdout(), false).await?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub async fn import(client: &Client, a: ImportArgs) -> anyhow::Result<u8> {
    let mut path = String::from("/images/create?fromSrc=-");
    if let Some(r) = &a.reference {
        let r = parse_ref(r)?;
        path.push_str(&format!(
            "&repo={}&tag={}",
            q(&r.familiar_name()),
            q(r.tag().unwrap_or(""))
        ));
    }
    for c in &a.change {
        path.push_str(&format!("&changes={}", q(c)));
    }
    if let Some(m) = &a.message {
        path.push_str(&format!("&message={}", q(m)));
    }
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    let body = if a.source == "-" {
        streaming(tokio::io::stdin())
    } else if a.source.contains("://") {
        anyhow::bail!("berth import from a URL is not implemented yet");
    } else {
        streaming(
            tokio::fs::File::open(&a.source)
                .await
                .map_err(|e| anyhow::anyhow!("open {}: {e}", a.source))?,
        )
    };
    post_tar(client, &path, body).await
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        print!("{warning}\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let extra: Vec<(&str, String)> = if a.all {
        vec![("dangling", "false".into())]
    } else {
        vec![]
    };
    let path = format!(
        "/images/prune?filters={}",
        q(&filters_json(&a.filter, &extra)?)
    );
    let report = client.send_json(Method::POST, &path, None).await?;
    let items = &report["ImagesDeleted"];
    if items.as_array().is_some_and(|a| !a.is_empty()) {
        println!("Deleted Images:");
        print_delete_items(items);
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report["SpaceReclaimed"].as_f64().unwrap_or(0.0), 3)
    );
    Ok(0)
}
