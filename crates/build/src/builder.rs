//! The builder: runs a planned Dockerfile's stages step by step on berth's own containers and
//! image store, each step's result an image (as the classic builder makes them), looked up in
//! the build cache first, its progress written as the classic `/build` stream.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use berth_container::ContainerService;
use berth_image::manifest::Platform;
use berth_image::progress::JsonMessage;
use berth_image::{Digest, ImageRef, ImageStore};
use berth_registry::{AuthConfig, RegistryClient};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cache::{BuildCache, CacheKey};
use crate::context::Context;
use crate::dockerfile::{self, Dockerfile, Instruction};
use crate::stages::Plan;
use crate::BuildError;

/// What a build asks for besides its context.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub dockerfile: String,
    pub tags: Vec<ImageRef>,
    /// `--build-arg k=v`; `k` alone takes the value from the client's environment, which the
    /// client resolves, so `None` means unset.
    pub build_args: Vec<(String, Option<String>)>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--cache-from`: images whose history a step's image may be taken from. Names that are
    /// not in the store are skipped, as dockerd skips them.
    pub cache_from: Vec<String>,
    pub pull: bool,
    /// Remove a RUN's container after it succeeds (`rm`, Docker's default).
    pub rm: bool,
    /// Remove it even when it fails (`forcerm`).
    pub force_rm: bool,
    pub quiet: bool,
    /// RUN's network: `default` (the bridge), `none`, `host`, or a network's name.
    pub network_mode: String,
    pub platform: Option<Platform>,
    /// `memory`, `cpushares`, `shmsize`, `extrahosts` as a RUN container's HostConfig has them.
    pub host_config: serde_json::Map<String, Value>,
    /// `X-Registry-Config`: credentials by registry, for pulls of the bases.
    pub auths: Vec<(String, AuthConfig)>,
}

/// The services a build uses.
pub struct Builder {
    pub containers: Arc<ContainerService>,
    pub images: Arc<ImageStore>,
    pub registry: Arc<RegistryClient>,
    pub cache: BuildCache,
    /// `<data-root>/builder`: RUN's cache mounts live under it.
    pub root: PathBuf,
}

/// A build ready to run: its context unpacked, its Dockerfile parsed and planned.
pub struct Prepared {
    pub(crate) context: Context,
    pub(crate) df: Dockerfile,
    pub(crate) plan: Plan,
    pub(crate) opts: BuildOptions,
    /// The `--cache-from` images found in the store.
    pub(crate) cache_sources: Vec<Digest>,
}

/// A stage as far as it has been built.
pub(crate) struct StageState {
    pub image: Digest,
    /// The image config's `config`: Env, Cmd, WorkingDir, …
    pub config: Value,
    /// The ARGs declared in this stage, with their values.
    pub args: Vec<(String, String)>,
    pub shell: Vec<String>,
    pub author: String,
    /// Whether this stage set CMD itself (an ENTRYPOINT resets only an inherited CMD).
    pub cmd_set: bool,
    pub escape: char,
}

impl StageState {
    /// The variables expansions see: declared ARGs, then ENV over them.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        v.extend(self.env().iter().filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        }));
        v
    }

    pub fn env(&self) -> Vec<String> {
        self.config["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env: Vec<String> = self
            .env()
            .into_iter()
            .filter(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key)
            .collect();
        env.push(format!("{key}={value}"));
        self.config["Env"] = json!(env);
    }

    pub fn workdir(&self) -> String {
        match self.config["WorkingDir"].as_str() {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".into(),
        }
    }
}

/// The args BuildKit predefines for this machine (usable once declared with `ARG`).
pub fn predefined_args(platform: &Platform) -> Vec<(String, String)> {
    let host = Platform::host();
    let mut out = Vec::new();
    for (prefix, p) in [("TARGET", platform), ("BUILD", &host)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out
}

/// The proxy args RUN sees without an `ARG` and that history leaves out.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `"k"="v"` with the lexer's double-quote escapes, for the LABEL step `labels` adds.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(crate) fn short(id: &Digest) -> String {
    id.to_string()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

/// Where progress goes: the client's stream, unless `q` asked for quiet.
#[derive(Clone)]
pub(crate) struct Output {
    tx: mpsc::Sender<JsonMessage>,
    quiet: bool,
}

impl Output {
    pub async fn line(&self, s: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(JsonMessage::stream(s)).await;
        }
    }

    /// The same output, to another channel (a stage's, forwarded in order).
    pub fn to(&self, tx: mpsc::Sender<JsonMessage>) -> Output {
        Output {
            tx,
            quiet: self.quiet,
        }
    }

    /// Passes on a message another `Output` already filtered.
    pub async fn forward(&self, m: JsonMessage) {
        let _ = self.tx.send(m).await;
    }

    /// The sender pulls report to (their progress is not shown under `q`).
    pub fn pull_progress(&self) -> mpsc::Sender<JsonMessage> {
        if !self.quiet {
            return self.tx.clone();
        }
        let (tx, mut rx) = mpsc::channel::<JsonMessage>(16);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        tx
    }
}

impl Builder {
    /// Unpacks the context, reads and plans the Dockerfile: everything that can be refused
    /// before the stream starts. Blocking.
    pub fn prepare(
        &self,
        context_dir: &std::path::Path,
        tar: impl std::io::Read,
        mut opts: BuildOptions,
    ) -> Result<Prepared, BuildError> {
        let context = Context::unpack(context_dir, tar)?;
        let text = context.dockerfile(&opts.dockerfile)?;
        let df = dockerfile::parse(&text)?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut plan = Plan::new(
            &df,
            &opts.build_args,
            &predefined_args(&platform),
            opts.target.as_deref(),
        )?;
        if !opts.labels.is_empty() {
            let args = opts
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", quoted(k), quoted(v)))
                .collect::<Vec<_>>()
                .join(" ");
            let target = plan.target;
            let line = plan.stages[target]
                .instructions
                .last()
                .map_or(plan.stages[target].from.line, |i| i.line);
            plan.stages[target].instructions.push(Instruction {
                keyword: "LABEL".into(),
                flags: vec![],
                original: format!("LABEL {args}"),
                args,
                json: None,
                heredocs: vec![],
                line,
            });
        }
        if opts.network_mode.is_empty() {
            opts.network_mode = "default".into();
        }
        let cache_sources = opts
            .cache_from
            .iter()
            .filter_map(|name| match self.images.resolve(name) {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::info!(image = %name, error = %e, "a --cache-from image is not here, skipping it");
                    None
                }
            })
            .collect();
        Ok(Prepared {
            context,
            df,
            plan,
            opts,
            cache_sources,
        })
    }

    /// Runs the build, writing its progress to `tx`. Returns the built image's ID, tagged.
    pub async fn run(
        self: &Arc<Self>,
        p: Prepared,
        tx: mpsc::Sender<JsonMessage>,
    ) -> Result<Digest, BuildError> {
        let out = Output {
            tx: tx.clone(),
            quiet: p.opts.quiet,
        };
        if let Some(s) = &p.df.syntax {
            out.line(format!(
                "[Warning] the syntax directive ({s}) is not used: berth's builder reads the Dockerfile itself\n"
            ))
            .await;
        }
        let p = Arc::new(p);
        let (mut done, mut used_args) = self.build_stages(&p, &out).await?;
        used_args.extend(p.plan.meta_args.iter().map(|(k, _)| k.clone()));
        let unused: Vec<&str> = p
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !used_args.iter().any(|u| u == k) && !PROXY_ARGS.contains(k))
            .collect();
        if !unused.is_empty() {
            out.line(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ))
            .await;
        }
        let id = done.remove(&p.plan.target).expect("the target was built");
        let _ = tx
            .send(JsonMessage::aux(json!({ "ID": id.to_string() })))
            .await;
        if p.opts.quiet {
            let _ = tx.send(JsonMessage::stream(format!("{id}\n"))).await;
        } else {
            out.line(format!("Successfully built {}\n", short(&id)))
                .await;
        }
        for t in &p.opts.tags {
            self.images.tag(&id, t)?;
            out.line(format!("Successfully tagged {}\n", t.familiar()))
                .await;
        }
        Ok(id)
    }

    /// A stage's start: an earlier stage's image, `scratch`, or an image (pulled if missing
    /// or if `pull` asks).
    pub(crate) async fn start_stage(
        &self,
        p: &Prepared,
        si: usize,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<StageState, BuildError> {
        let stage = &p.plan.stages[si];
        let image = match p.plan.stage_named(&stage.base, si) {
            Some(b) => done
                .get(&b)
                .cloned()
                .ok_or_else(|| BuildError::Failed(format!("stage {} was not built", stage.base)))?,
            None => {
                let platform = match &stage.platform {
                    Some(s) if !s.is_empty() => {
                        Some(Platform::parse(s).map_err(|e| BuildError::Invalid(e.to_string()))?)
                    }
                    _ => p.opts.platform.clone(),
                };
                self.base_image(&stage.base, platform, p, out).await?
            }
        };
        let full: Value = serde_json::from_slice(&self.images.config_bytes(&image)?)
            .map_err(|e| BuildError::Failed(e.to_string()))?;
        let config = match full.get("config") {
            Some(c) if c.is_object() => c.clone(),
            _ => json!({}),
        };
        let shell = config["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()]);
        Ok(StageState {
            image,
            config,
            args: Vec::new(),
            shell,
            author: full["author"].as_str().unwrap_or_default().to_string(),
            cmd_set: false,
            escape: p.df.escape,
        })
    }

    /// The image a FROM or `--from` names: `scratch`, a local image, or a pull.
    pub(crate) async fn base_image(
        &self,
        name: &str,
        platform: Option<Platform>,
        p: &Prepared,
        out: &Output,
    ) -> Result<Digest, BuildError> {
        if name.eq_ignore_ascii_case("scratch") {
            let pl = platform.unwrap_or_else(Platform::host);
            return Ok(berth_image::commit::scratch(
                &self.images,
                &pl.architecture,
                &pl.os,
            )?);
        }
        let reference = ImageRef::parse(name)
            .map_err(|e| BuildError::Invalid(format!("invalid reference format: {name}: {e}")))?;
        let reference = if reference.tag().is_none() && reference.digest().is_none() {
            reference.with_default_tag()
        } else {
            reference
        };
        if !p.opts.pull {
            if let Ok(id) = self.images.resolve(&reference.to_string()) {
                return Ok(id);
            }
        }
        let auth = p
            .opts
            .auths
            .iter()
            .find(|(server, _)| {
                berth_registry::client::normalize_server(server) == reference.domain()
            })
            .map(|(_, a)| a.clone());
        let resolved = self
            .registry
            .resolve(&reference, auth, platform)
            .await
            .map_err(|e| BuildError::Failed(e.to_string()))?;
        resolved
            .fetch(self.images.clone(), out.pull_progress())
            .await
            .map_err(|e| BuildError::Failed(e.to_string()))?;
        Ok(self.images.resolve(&reference.to_string())?)
    }

    /// The base image's ONBUILD triggers, run as if they followed the FROM, then dropped.
    pub(crate) async fn run_triggers(
        &self,
        p: &Prepared,
        st: &mut StageState,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<(), BuildError> {
        let triggers: Vec<String> = st.config["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        st.config["OnBuild"] = Value::Null;
        let n = triggers.len();
        out.line(format!(
            "# Executing {n} build trigger{}\n",
            if n == 1 { "" } else { "s" }
        ))
        .await;
        for t in triggers {
            let df = dockerfile::parse(&format!("# escape={}\n{t}\n", st.escape))?;
            for ins in &df.instructions {
                self.dispatch(p, st, ins, done, out).await?;
            }
        }
        Ok(())
    }

    /// Runs one instruction on the stage.
    pub(crate) async fn dispatch(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<(), BuildError> {
        match ins.keyword.as_str() {
            "RUN" => self.run_step(p, st, ins, done, out).await,
            "COPY" | "ADD" => self.copy_step(p, st, ins, done, out).await,
            "WORKDIR" => self.workdir_step(p, st, ins, out).await,
            "FROM" => Err(BuildError::Dockerfile(format!(
                "dockerfile parse error on line {}: FROM inside a stage",
                ins.line
            ))),
            _ => self.meta_step(p, st, ins, out).await,
        }
    }

    /// Looks the step up unless `nocache`: in the build cache by `key`, then in the
    /// `--cache-from` images by its history entry. Prints the cache line on a hit.
    pub(crate) async fn cached(
        &self,
        p: &Prepared,
        st: &StageState,
        key: &CacheKey,
        created_by: &str,
        out: &Output,
    ) -> Option<Digest> {
        if p.opts.no_cache {
            return None;
        }
        let local = self.cache.get(key).filter(|id| {
            self.images
                .get(id)
                .is_some_and(|r| self.images.is_complete(&r))
        });
        let id = match local {
            Some(id) => id,
            None => {
                let commit = berth_image::commit::Commit {
                    parent: &st.image,
                    config: st.config.clone(),
                    comment: "",
                    author: &st.author,
                    created_by,
                };
                match berth_image::cache_from::reuse(&self.images, commit, &p.cache_sources) {
                    Ok(Some(id)) => {
                        self.remember(key, &id);
                        id
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "looking up --cache-from images");
                        return None;
                    }
                }
            }
        };
        out.line(" ---> Using cache\n").await;
        Some(id)
    }

    /// Records a step's image under its key.
    pub(crate) fn remember(&self, key: &CacheKey, id: &Digest) {
        if let Err(e) = self.cache.put(key, id) {
            tracing::warn!(error = %e, "writing the build cache");
        }
    }
}
