//! RUN: the command in a real container of the stage's image, under berth's runtime, with the
//! build's env, args, user, workdir and shell; its output streamed; its changes committed.

use std::path::PathBuf;

use berth_container::attach::AttachStreams;
use berth_runtime::shim::protocol::parse_frame_header;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::builder::{Builder, Output, Prepared, StageState, PROXY_ARGS};
use crate::cache::CacheKey;
use crate::dockerfile::Instruction;
use crate::instruction::{self, Flags};
use crate::BuildError;

impl Builder {
    pub(crate) async fn run_step(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        _done: &std::collections::HashMap<usize, berth_image::Digest>,
        out: &Output,
    ) -> Result<(), BuildError> {
        let flags = Flags::parse(ins, &["mount", "network"])?;
        let vars = st.vars();
        let network = match flags.get("network", &vars, st.escape)?.as_deref() {
            None | Some("default") => p.opts.network_mode.clone(),
            Some(n @ ("none" | "host")) => n.to_string(),
            Some(other) => {
                return Err(BuildError::Invalid(format!(
                    "RUN --network={other}: only default, none and host are supported"
                )))
            }
        };
        let mut mounts = Vec::new();
        for m in flags.all("mount") {
            mounts.push(self.run_mount(&m)?);
        }
        let argv = command(ins, &st.shell);
        // Build args reach the command's environment, under ENV of the same name.
        let env_keys: Vec<String> = st
            .env()
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_string())
            .collect();
        let mut args: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        args.sort();
        let proxies: Vec<String> = p
            .opts
            .build_args
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        let created_by = if args.is_empty() {
            argv.join(" ")
        } else {
            format!("|{} {} {}", args.len(), args.join(" "), argv.join(" "))
        };
        let mounts_key = serde_json::to_string(&mounts).unwrap_or_default();
        let key = CacheKey::new(
            &st.image.to_string(),
            &[
                "RUN",
                &serde_json::to_string(&argv).unwrap_or_default(),
                &args.join("\n"),
                &network,
                &mounts_key,
            ],
        );
        if let Some(id) = self.cached(p, &key, out).await {
            st.image = id;
            return Ok(());
        }
        let mut host_config = p.opts.host_config.clone();
        host_config.insert("NetworkMode".into(), json!(network));
        if !mounts.is_empty() {
            host_config.insert("Mounts".into(), json!(mounts));
        }
        let env: Vec<String> = args.iter().chain(proxies.iter()).cloned().collect();
        let body = json!({
            "Image": st.image.to_string(),
            "Cmd": argv,
            "Entrypoint": [""],
            "Env": env,
            "User": st.config["User"].as_str().unwrap_or_default(),
            "WorkingDir": st.config["WorkingDir"].as_str().unwrap_or_default(),
            "AttachStdout": true,
            "AttachStderr": true,
            "HostConfig": Value::Object(host_config),
        });
        let body = berth_container::CreateBody::from_json(body.to_string().as_bytes())?;
        let (id, _) = self.containers.create(None, None, body)?;
        out.line(format!(" ---> Running in {}\n", &id[..12])).await;
        let code = match self.run_container(&id, out).await {
            Ok(code) => code,
            Err(e) => {
                self.drop_container(&id).await;
                return Err(e);
            }
        };
        if code != 0 {
            if p.opts.force_rm {
                self.drop_container(&id).await;
            }
            return Err(BuildError::Command {
                command: argv.join(" "),
                code,
            });
        }
        let committed = self.commit_container(st, &id, &created_by).await;
        if p.opts.rm || p.opts.force_rm || committed.is_err() {
            self.drop_container(&id).await;
            if committed.is_ok() {
                out.line(format!(
                    " ---> Removed intermediate container {}\n",
                    &id[..12]
                ))
                .await;
            }
        }
        let image = committed?;
        self.remember(&key, &image);
        st.image = image;
        Ok(())
    }

    /// Starts the container with its output attached, forwards the output, and returns the
    /// exit code.
    async fn run_container(&self, id: &str, out: &Output) -> Result<i64, BuildError> {
        let mut progress = self.containers.progress(id);
        let wait = self
            .containers
            .attach(
                id,
                AttachStreams {
                    stdin: false,
                    stdout: true,
                    stderr: true,
                },
            )
            .await?;
        self.containers.start(id).await?;
        let mut stream = wait.stream().await?;
        let mut header = [0u8; 8];
        loop {
            if stream.read_exact(&mut header).await.is_err() {
                break;
            }
            let (_, len) = parse_frame_header(&header);
            let mut data = vec![0u8; len];
            if stream.read_exact(&mut data).await.is_err() {
                break;
            }
            out.line(String::from_utf8_lossy(&data).into_owned()).await;
        }
        let p = progress
            .wait_for(|p| p.exits > 0 || p.removed)
            .await
            .map_err(|_| BuildError::Failed("the RUN container went away".into()))?;
        if let Some(e) = &p.error {
            if !e.is_empty() {
                return Err(BuildError::Failed(e.clone()));
            }
        }
        Ok(p.exit_code as i64)
    }

    /// One `--mount` of a RUN, as a create body's `Mounts` entry: `type=cache` (a directory
    /// kept under the builder's root per id) and `type=tmpfs`.
    fn run_mount(&self, spec: &str) -> Result<Value, BuildError> {
        let mut kind = "bind".to_string();
        let mut target = None;
        let mut id = None;
        let mut ro = false;
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "type" => kind = v.to_string(),
                "target" | "dst" | "destination" => target = Some(v.to_string()),
                "id" => id = Some(v.to_string()),
                "readonly" | "ro" => ro = v.is_empty() || v == "true",
                "sharing" if matches!(v, "shared" | "private" | "locked") => {}
                _ => {
                    return Err(BuildError::Invalid(format!(
                        "RUN --mount: option {k:?} is not supported yet"
                    )))
                }
            }
        }
        if !matches!(kind.as_str(), "cache" | "tmpfs") {
            return Err(BuildError::Invalid(format!(
                "RUN --mount=type={kind} is not supported yet"
            )));
        }
        let target = target
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BuildError::Invalid("RUN --mount: target is required".into()))?;
        match kind.as_str() {
            "cache" => {
                let id = id.unwrap_or_else(|| target.clone());
                let dir: PathBuf = self.root.join("cache-mounts").join(hex::encode(
                    <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()),
                ));
                std::fs::create_dir_all(&dir)?;
                Ok(json!({
                    "Type": "bind",
                    "Source": dir.to_string_lossy(),
                    "Target": target,
                    "ReadOnly": ro,
                }))
            }
            _ => Ok(json!({ "Type": "tmpfs", "Target": target })),
        }
    }
}

/// RUN's argv: the exec form as written; the shell form in the stage's shell. A RUN that is
/// only a heredoc runs the heredoc's text as the script; otherwise the heredocs follow the
/// command for the shell to read, as written.
fn command(ins: &Instruction, shell: &[String]) -> Vec<String> {
    if ins.json.is_some() || ins.heredocs.is_empty() {
        return instruction::command(ins, shell);
    }
    let only = crate::dockerfile::is_heredoc_word(ins.args.trim());
    let script = match only {
        Some(name) if ins.heredocs.len() == 1 && ins.heredocs[0].name == name => {
            ins.heredocs[0].content.clone()
        }
        _ => {
            let mut s = ins.args.clone();
            for h in &ins.heredocs {
                s.push('\n');
                s.push_str(&h.content);
                s.push_str(&h.name);
            }
            s
        }
    };
    let mut argv = shell.to_vec();
    argv.push(script);
    argv
}
