//! `berth build` and `berth builder prune`: the context sent as a tar (`.dockerignore` applied
//! here, as the docker CLI does), the daemon's step stream shown as it comes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_build::ignore::Ignore;
use clap::{Args, Subcommand};
use hyper::Method;

use crate::client::{full, q, Client};
use crate::config;
use crate::progress::display;

use super::parse::{self, flag};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long = "target")]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network")]
    network: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    platform: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    force_rm: bool,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_hosts: Vec<String>,
    #[command(flatten)]
    resources: BuildResources,
    /// Write the image ID to the file
    #[arg(long = "iidfile")]
    iidfile: Option<PathBuf>,
    /// Type of progress output: auto (steps folding on a terminal, as BuildKit draws them), plain
    #[arg(long = "progress", default_value = "auto")]
    progress: String,
    #[arg(value_name = "PATH | -")]
    context: String,
}

/// The resources of the RUN steps' containers, as `docker build` (classic) takes them.
#[derive(Debug, Args)]
struct BuildResources {
    /// Memory limit
    #[arg(short = 'm', long = "memory", default_value = "0", value_parser = flag("-m, --memory", parse::ram_in_bytes))]
    memory: i64,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", default_value = "0", value_parser = flag("--memory-swap", parse::mem_swap), allow_hyphen_values = true)]
    memory_swap: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", default_value = "0", value_parser = flag("-c, --cpu-shares", parse::go_int))]
    cpu_shares: i64,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value = "0", value_parser = flag("--cpu-quota", parse::go_int))]
    cpu_quota: i64,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value = "0", value_parser = flag("--cpu-period", parse::go_int))]
    cpu_period: i64,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", default_value = "0", value_parser = flag("--shm-size", parse::ram_in_bytes))]
    shm_size: i64,
}

impl BuildResources {
    /// The query parameters of the resources that are set.
    fn query(&self) -> String {
        let mut out = String::new();
        for (k, v) in [
            ("memory", self.memory),
            ("memswap", self.memory_swap),
            ("cpushares", self.cpu_shares),
            ("cpuquota", self.cpu_quota),
            ("cpuperiod", self.cpu_period),
            ("shmsize", self.shm_size),
        ] {
            if v != 0 {
                out.push_str(&format!("&{k}={v}"));
            }
        }
        if let Some(c) = &self.cpuset_cpus {
            out.push_str(&format!("&cpusetcpus={}", q(c)));
        }
        out
    }
}

/// The context tar: every file under `dir` that `.dockerignore` does not exclude (the
/// Dockerfile and `.dockerignore` always go), plus a Dockerfile from elsewhere under `extra`.
fn context_tar(dir: &Path, extra: Option<(&str, &[u8])>) -> anyhow::Result<Vec<u8>> {
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => Ignore::parse(&t).map_err(|e| anyhow::anyhow!("{e}"))?,
        Err(_) => Ignore::default(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    add_tree(&mut tar, dir, "", &ignore)?;
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, data)?;
    }
    Ok(tar.into_inner()?)
}

fn add_tree(
    tar: &mut tar::Builder<Vec<u8>>,
    base: &Path,
    rel: &str,
    ignore: &Ignore,
) -> anyhow::Result<()> {
    let here = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&here)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", here.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let p = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let full = base.join(&p);
        let meta = std::fs::symlink_metadata(&full)?;
        let always = rel.is_empty() && (n == "Dockerfile" || n == ".dockerignore");
        let excluded = !always && ignore.excludes(&p);
        if excluded && !(meta.is_dir() && ignore.may_reinclude_under(&p)) {
            continue;
        }
        if !excluded {
            tar.append_path_with_name(&full, &p)?;
        }
        if meta.is_dir() {
            add_tree(tar, base, &p, ignore)?;
        }
    }
    Ok(())
}

fn pairs_json(items: &[String], from_env: bool) -> anyhow::Result<String> {
    let mut map = serde_json::Map::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) => {
                map.insert(k.to_string(), serde_json::json!(v));
            }
            None if from_env => {
                // `--build-arg NAME` takes the value from this environment, if set.
                if let Ok(v) = std::env::var(it) {
                    map.insert(it.clone(), serde_json::json!(v));
                } else {
                    map.insert(it.clone(), serde_json::Value::Null);
                }
            }
            None => {
                map.insert(it.clone(), serde_json::json!(""));
            }
        }
    }
    Ok(serde_json::Value::Object(map).to_string())
}

pub async fn build(client: &Client, a: BuildArgs) -> anyhow::Result<u8> {
    if !matches!(a.progress.as_str(), "auto" | "plain") {
        anyhow::bail!(
            "--progress={} is not supported yet (auto and plain are)",
            a.progress
        );
    }
    let mut dockerfile_name = String::new();
    let body = if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            anyhow::bail!(
                "invalid argument: can't use stdin for both build context and dockerfile"
            );
        }
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        let is_tar = input.starts_with(&[0x1f, 0x8b]) || input.get(257..262) == Some(b"ustar");
        if is_tar {
            input
        } else {
            // A Dockerfile on stdin, with an empty context.
            dockerfile_name = "Dockerfile".into();
            let mut tar = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o600);
            h.set_size(input.len() as u64);
            tar.append_data(&mut h, "Dockerfile", &input[..])?;
            tar.into_inner()?
        }
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            anyhow::bail!("unable to prepare context: path {:?} not found", a.context);
        }
        let extra: Option<(String, Vec<u8>)> = match a.file.as_deref() {
            None => None,
            Some("-") => {
                let mut df = Vec::new();
                std::io::stdin().read_to_end(&mut df)?;
                Some((format!(".dockerfile.{:x}", std::process::id()), df))
            }
            Some(f) => {
                let path = Path::new(f);
                let abs = std::fs::canonicalize(path)
                    .map_err(|e| anyhow::anyhow!("unable to prepare context: {f}: {e}"))?;
                let root = std::fs::canonicalize(&dir)?;
                match abs.strip_prefix(&root) {
                    Ok(rel) => {
                        dockerfile_name = rel.to_string_lossy().into_owned();
                        None
                    }
                    Err(_) => Some((
                        format!(".dockerfile.{:x}", std::process::id()),
                        std::fs::read(&abs)?,
                    )),
                }
            }
        };
        if let Some((name, _)) = &extra {
            dockerfile_name = name.clone();
        }
        let tar = context_tar(
            &dir,
            extra.as_ref().map(|(n, d)| (n.as_str(), d.as_slice())),
        )?;
        if !a.quiet {
            eprintln!(
                "Sending build context to berthd  {}",
                berth_image::progress::human_size(tar.len() as f64, 4)
            );
        }
        tar
    };
    let mut path = String::from("/build?rm=");
    path.push_str(if a.rm { "1" } else { "0" });
    for t in &a.tags {
        path.push_str(&format!("&t={}", q(t)));
    }
    if !dockerfile_name.is_empty() {
        path.push_str(&format!("&dockerfile={}", q(&dockerfile_name)));
    }
    path.push_str(&format!(
        "&buildargs={}",
        q(&pairs_json(&a.build_args, true)?)
    ));
    path.push_str(&format!("&labels={}", q(&pairs_json(&a.labels, false)?)));
    let flags = [
        ("nocache", a.no_cache),
        ("pull", a.pull),
        ("q", a.quiet),
        ("forcerm", a.force_rm),
    ];
    for (k, on) in flags {
        if on {
            path.push_str(&format!("&{k}=1"));
        }
    }
    for (k, v) in [
        ("target", &a.target),
        ("networkmode", &a.network),
        ("platform", &a.platform),
    ] {
        if let Some(v) = v {
            path.push_str(&format!("&{k}={}", q(v)));
        }
    }
    path.push_str(&a.resources.query());
    for h in &a.add_hosts {
        path.push_str(&format!("&extrahosts={}", q(h)));
    }
    if !a.cache_from.is_empty() {
        let list = serde_json::to_string(&a.cache_from).expect("strings");
        path.push_str(&format!("&cachefrom={}", q(&list)));
    }
    let headers = [
        ("Content-Type", "application/x-tar".to_string()),
        ("X-Registry-Config", config::registry_config_header()),
    ];
    let resp = client
        .request(Method::POST, &path, full(body), &headers)
        .await?;
    let mut out: Box<dyn Write> = if a.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    let aux = if !a.quiet && a.progress == "auto" && crate::progress::stdout_is_terminal() {
        let width = crate::progress::terminal_width();
        crate::build_view::show(resp.into_body(), &mut out, width).await?
    } else {
        display(resp.into_body(), &mut out, false).await?
    };
    let id = aux
        .iter()
        .find_map(|v| v["ID"].as_str().map(str::to_string))
        .unwrap_or_default();
    if a.quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id)?;
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub async fn builder(client: &Client, c: BuilderCommand) -> anyhow::Result<u8> {
    let BuilderCommand::Prune(a) = c;
    if !a.force {
        let what = if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        if !crate::commands::confirm(&format!("WARNING! This will remove {what}."))? {
            return Ok(0);
        }
    }
    let r = client
        .send_json(
            Method::POST,
            &format!("/build/prune?all={}", u8::from(a.all)),
            None,
        )
        .await?;
    let ids: Vec<String> = r["CachesDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted build cache objects:");
        for id in &ids {
            println!("{}", id.trim_start_matches("sha256:"));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        berth_image::progress::human_size(r["SpaceReclaimed"].as_f64().unwrap_or(0.0), 4)
    );
    Ok(0)
}
