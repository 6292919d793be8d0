//! RUN: the command in a real container of the stage's image, under berth's runtime, with the
//! build's env, args, user, workdir and shell; its output streamed; its changes committed.

use berth_container::attach::AttachStreams;
use berth_runtime::shim::protocol::parse_frame_header;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use super::run_mount::RunMounts;
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
        done: &std::collections::HashMap<usize, berth_image::Digest>,
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
        let mounts = self.run_mounts(p, &flags.all("mount"), done, out).await?;
        let result = self.run_with(p, st, ins, network, &mounts, out).await;
        self.release_mounts(mounts).await;
        result
    }

    async fn run_with(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        network: String,
        mounts: &RunMounts,
        out: &Output,
    ) -> Result<(), BuildError> {
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
        let mounts_key = mounts.key.join("\n");
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
        if let Some(id) = self.cached(p, st, &key, &created_by, out).await {
            st.image = id;
            return Ok(());
        }
        let mut host_config = p.opts.host_config.clone();
        host_config.insert("NetworkMode".into(), json!(network));
        if !mounts.mounts.is_empty() {
            host_config.insert("Mounts".into(), json!(mounts.mounts));
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
