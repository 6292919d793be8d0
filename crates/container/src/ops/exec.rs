//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `/exec/{id}/resize` and
//! `GET /exec/{id}/json`: a second process in a running container, joined to all of its
//! namespaces and its cgroup, with its capabilities, seccomp filter, rlimits and environment.

use std::sync::Arc;

use berth_runtime::shim::protocol::Request;
use berth_runtime::spec::{self, ExecOptions};
use tokio::net::UnixStream;
use tokio::sync::watch;

use crate::error::ContainerError;
use crate::exec::{Exec, ExecConfig};
use crate::process;
use crate::record::{new_id, Container};
use crate::service::ContainerService;

/// How an attached exec start went: the stream to the exec's stdio, and what turns true once
/// its exit is recorded (so the client, told the stream ended, finds the exit code).
pub struct ExecSession {
    pub stream: UnixStream,
    pub done: watch::Receiver<bool>,
}

/// `POST /exec/{id}/start`'s own options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecStartOptions {
    pub detach: bool,
    /// `[height, width]`, overriding the create's.
    pub console_size: Option<[u32; 2]>,
}

/// Docker's words for an exec into a container that cannot take one.
fn check_runnable(c: &Container) -> Result<(), ContainerError> {
    if !c.state.running {
        return Err(ContainerError::Conflict(format!(
            "container {} is not running",
            c.id
        )));
    }
    if c.state.paused {
        return Err(ContainerError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        )));
    }
    if c.state.restarting {
        return Err(ContainerError::Conflict(format!(
            "Container {} is restarting, wait until the container is running",
            c.id
        )));
    }
    Ok(())
}

/// The exit status dockerd gives an exec whose process could not be started.
fn failed_start_code(msg: &str) -> i32 {
    let m = msg.to_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else {
        126
    }
}

impl ContainerService {
    /// `POST /containers/{id}/exec`: records the exec; nothing runs until its start.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String, ContainerError> {
        let c = self.get(key)?;
        check_runnable(&c)?;
        if config.cmd.is_empty() {
            return Err(ContainerError::Invalid("No exec command specified".into()));
        }
        let id = new_id();
        let action = format!("exec_create: {}", config.cmd.join(" "));
        self.execs.lock().unwrap().insert(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            running: false,
            exit_code: None,
            pid: 0,
            started: false,
        });
        self.emit(&c, &action, &[("execID", id.clone())]);
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<Exec, ContainerError> {
        self.execs
            .lock()
            .unwrap()
            .get(id)
            .map(|e| e.exec.clone())
            .ok_or_else(|| ContainerError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Drops an exec's record (a healthcheck's probe, once read).
    pub(crate) fn forget_exec(&self, id: &str) {
        self.execs.lock().unwrap().remove(id);
    }

    /// The container's running execs (inspect's `ExecIDs`).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        self.execs.lock().unwrap().running_of(container_id)
    }

    /// `POST /exec/{id}/start`: runs the exec. Attached, returns its stream; detached, `None`
    /// once it runs. An exec runs once.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<ExecSession>, ContainerError> {
        let exec = self.exec_inspect(id)?;
        let c = self.get(&exec.container_id)?;
        {
            let mut execs = self.execs.lock().unwrap();
            let Some(e) = execs.get_mut(id) else {
                return Err(ContainerError::NotFound(format!(
                    "No such exec instance: {id}"
                )));
            };
            if e.exec.running {
                return Err(ContainerError::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )));
            }
            if e.exec.started {
                return Err(ContainerError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            e.exec.started = true;
        }
        check_runnable(&c)?;
        let cfg = &exec.config;
        let process = match self.exec_process(&c, cfg, opts) {
            Ok(p) => p,
            Err(e) => {
                self.exec_ended(&c, id, 126);
                return Err(e);
            }
        };
        let req = Request::Exec {
            exec_id: id.to_string(),
            process,
            tty: cfg.tty,
            stdin: cfg.attach_stdin && !opts.detach,
            stdout: cfg.attach_stdout,
            stderr: cfg.attach_stderr,
            attach: !opts.detach,
        };
        let shim = self.shim(&c.id);
        let (pid, stream) = match shim.exec(&req).await {
            Ok(r) => r,
            Err(e) => {
                let msg = e.to_string();
                self.exec_ended(&c, id, failed_start_code(&msg));
                let msg = msg
                    .strip_prefix("exec failed: ")
                    .unwrap_or(&msg)
                    .to_string();
                return Err(ContainerError::Start(format!(
                    "OCI runtime exec failed: exec failed: {msg}: unknown"
                )));
            }
        };
        let done = {
            let mut execs = self.execs.lock().unwrap();
            let Some(e) = execs.get_mut(id) else {
                return Err(ContainerError::Conflict("container was removed".into()));
            };
            e.exec.running = true;
            e.exec.pid = pid;
            e.done.subscribe()
        };
        let action = format!("exec_start: {}", cfg.cmd.join(" "));
        self.emit(&c, &action, &[("execID", id.to_string())]);
        let svc = self.clone();
        let exec_id = id.to_string();
        tokio::spawn(async move {
            // A shim gone before it said is a container gone, and its execs with it.
            let code = shim.exec_wait(&exec_id).await.map_or(137, |x| x.exit_code);
            svc.exec_ended(&c, &exec_id, code);
        });
        Ok((!opts.detach).then_some(ExecSession { stream, done }))
    }

    /// Records an exec's end and tells whoever waits for it.
    fn exec_ended(&self, c: &Container, id: &str, code: i32) {
        let found = {
            let mut execs = self.execs.lock().unwrap();
            execs.get_mut(id).map(|e| {
                e.exec.running = false;
                e.exec.exit_code = Some(code);
                e.done.send_replace(true);
            })
        };
        if found.is_some() {
            self.emit(
                c,
                "exec_die",
                &[("execID", id.to_string()), ("exitCode", code.to_string())],
            );
        }
    }

    /// The exec's OCI process: the container's, with the exec's command, user, directory and
    /// environment (dockerd's: the container's, then the exec's `Env` over it).
    fn exec_process(
        &self,
        c: &Container,
        cfg: &ExecConfig,
        opts: ExecStartOptions,
    ) -> Result<serde_json::Value, ContainerError> {
        let base = spec::read_process(&self.paths.state_dir(&c.id))
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        let user_spec = if cfg.user.is_empty() {
            &c.config.user
        } else {
            &cfg.user
        };
        let user = process::resolve_user(&self.paths.rootfs(&c.id), user_spec)
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        let mut config_env = c.config.env.clone().unwrap_or_default();
        config_env.extend(cfg.env.iter().cloned());
        let env = process::process_env(&config_env, &c.config.hostname, &user.home, cfg.tty);
        let mut gids = user.additional_gids.clone();
        for g in c.host_config.group_add.iter().flatten() {
            if let Ok(g) = g.parse() {
                gids.push(g);
            }
        }
        let size = opts.console_size.or(cfg.console_size);
        let exec_opts = ExecOptions {
            args: cfg.cmd.clone(),
            env,
            cwd: cfg.working_dir.clone(),
            uid: user.uid,
            gid: user.gid,
            additional_gids: gids,
            terminal: cfg.tty,
            console_size: size
                .filter(|[h, w]| *h > 0 && *w > 0)
                .map(|[h, w]| (h.min(u16::MAX.into()) as u16, w.min(u16::MAX.into()) as u16)),
            privileged: cfg.privileged,
        };
        let p = spec::exec_process(&base, &exec_opts).map_err(|e| match e {
            spec::SpecError::RelativeCwd(_) => ContainerError::Invalid(e.to_string()),
            e => ContainerError::Start(e.to_string()),
        })?;
        serde_json::to_value(p).map_err(|e| ContainerError::Start(e.to_string()))
    }

    /// `POST /exec/{id}/resize`. A resize may come before the start it follows has the
    /// process running (clients send it as soon as the start's stream is open): like dockerd,
    /// it waits for the start, for a while.
    pub async fn exec_resize(
        &self,
        id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), ContainerError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let exec = loop {
            let exec = self.exec_inspect(id)?;
            if exec.running {
                break exec;
            }
            if exec.exit_code.is_some() || tokio::time::Instant::now() >= deadline {
                return Err(ContainerError::Conflict(format!(
                    "Exec {id} is not running"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        self.shim(&exec.container_id)
            .call(&Request::Resize {
                height,
                width,
                exec: Some(id.to_string()),
            })
            .await
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_get_dockerds_exit_codes() {
        assert_eq!(
            failed_start_code("exec: \"nosuch\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            failed_start_code("exec: \"/x\": stat /x: no such file or directory"),
            127
        );
        assert_eq!(failed_start_code("exec: \"/etc\": permission denied"), 126);
    }
}
