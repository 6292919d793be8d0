//! Execs as berthd holds them: what `POST /containers/{id}/exec` asked for, and how the
//! process went. Like dockerd, berthd keeps them in memory only: an exec does not outlive its
//! container, and its record goes with the container's removal.

use std::collections::HashMap;

use serde::Deserialize;
use tokio::sync::watch;

/// The body of `POST /containers/{id}/exec`, as the docker CLI, docker-py and the 1.47 API
/// send it. Every field is honoured; anything else is refused by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `[height, width]`.
    pub console_size: Option<[u32; 2]>,
    pub detach_keys: String,
    pub tty: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
    /// Sent by the docker CLI; whether the exec is detached is the start's to say.
    pub detach: bool,
    /// Sent by docker-py: the container, already named by the path.
    pub container: String,
}

impl ExecConfig {
    /// Parses a body the way [`crate::CreateBody::from_json`] does: `null` is "not given".
    pub fn from_json(body: &[u8]) -> Result<ExecConfig, String> {
        crate::unsupported::parse_body(body)
    }
}

/// One exec, as inspect shows it.
#[derive(Debug, Clone)]
pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    /// Set once it has run (or failed to start).
    pub exit_code: Option<i32>,
    pub pid: i32,
    /// A start was asked for: an exec runs once.
    pub started: bool,
}

pub(crate) struct ExecEntry {
    pub(crate) exec: Exec,
    /// Turns true when the exec's end is recorded.
    pub(crate) done: watch::Sender<bool>,
}

/// Every exec berthd knows, by ID.
#[derive(Default)]
pub(crate) struct Execs {
    map: HashMap<String, ExecEntry>,
}

impl Execs {
    pub(crate) fn insert(&mut self, exec: Exec) {
        let done = watch::channel(false).0;
        self.map.insert(exec.id.clone(), ExecEntry { exec, done });
    }

    pub(crate) fn get(&self, id: &str) -> Option<&ExecEntry> {
        self.map.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut ExecEntry> {
        self.map.get_mut(id)
    }

    /// The container's running execs, as inspect's `ExecIDs` lists them.
    pub(crate) fn running_of(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .map
            .values()
            .filter(|e| e.exec.container_id == container_id && e.exec.running)
            .map(|e| e.exec.id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }

    /// Forgets a removed container's execs.
    pub(crate) fn remove_of(&mut self, container_id: &str) {
        self.map.retain(|_, e| e.exec.container_id != container_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_the_docker_cli_and_docker_py_parse_and_others_are_refused() {
        let cli = br#"{"User":"","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh","-c","exit 6"]}"#;
        let c = ExecConfig::from_json(cli).unwrap();
        assert_eq!(c.cmd, ["sh", "-c", "exit 6"]);
        assert!(c.attach_stdout && c.attach_stderr && !c.attach_stdin);
        let py = br#"{"Container":"x","User":"","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Cmd":["true"],"Env":null}"#;
        assert!(ExecConfig::from_json(py).is_ok());
        let err = ExecConfig::from_json(br#"{"Cmd":["true"],"Isolation":"x"}"#).unwrap_err();
        assert!(err.contains("Isolation"), "{err}");
    }

    #[test]
    fn running_execs_are_listed_per_container_and_go_with_it() {
        let mut execs = Execs::default();
        for (id, c, running) in [("b", "c1", true), ("a", "c1", true), ("x", "c1", false)] {
            execs.insert(Exec {
                id: id.into(),
                container_id: c.into(),
                config: ExecConfig::default(),
                running,
                exit_code: None,
                pid: 0,
                started: running,
            });
        }
        assert_eq!(execs.running_of("c1"), ["a", "b"]);
        assert!(execs.running_of("c2").is_empty());
        execs.remove_of("c1");
        assert!(execs.get("a").is_none());
    }
}
