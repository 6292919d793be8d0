//! The OCI process of an exec: the container's own process (its capabilities, rlimits,
//! no-new-privileges, OOM score) with the exec's command, environment, directory, user and
//! terminal, as dockerd derives it (`daemon/exec_linux.go`).

use oci_spec::runtime::{BoxBuilder, Process};
use std::path::PathBuf;

use super::{caps, SpecError};

/// What an exec changes of the container's process. Env and user arrive resolved.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute; empty keeps the container's.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    /// `(height, width)` for the terminal, when the client sent one.
    pub console_size: Option<(u16, u16)>,
    /// `--privileged`: every capability berthd has, whatever the container got.
    pub privileged: bool,
}

pub fn exec_process(base: &Process, opts: &ExecOptions) -> Result<Process, SpecError> {
    if !opts.cwd.is_empty() && !opts.cwd.starts_with('/') {
        return Err(SpecError::RelativeCwd(opts.cwd.clone()));
    }
    let mut p = base.clone();
    let user = super::process_user(opts.uid, opts.gid, &opts.additional_gids);
    p.set_args(Some(opts.args.clone()))
        .set_env(Some(opts.env.clone()))
        .set_user(user)
        .set_terminal(Some(opts.terminal))
        .set_console_size(
            opts.console_size
                .filter(|_| opts.terminal)
                .and_then(|(h, w)| BoxBuilder::default().height(h).width(w).build().ok()),
        );
    if !opts.cwd.is_empty() {
        p.set_cwd(PathBuf::from(&opts.cwd));
    }
    if opts.privileged {
        let all: Vec<String> = super::host()
            .bounding
            .as_deref()
            .unwrap_or(&caps::CAPABILITY_BITS)
            .iter()
            .map(|s| s.to_string())
            .collect();
        p.set_capabilities(Some(caps::capability_sets(&all)?));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Process {
        let mut p = Process::default();
        p.set_args(Some(vec!["sleep".into(), "100".into()]))
            .set_env(Some(vec!["PATH=/bin".into()]))
            .set_cwd("/srv".into())
            .set_capabilities(Some(
                caps::capability_sets(&["CAP_CHOWN".to_string()]).unwrap(),
            ));
        p
    }

    #[test]
    fn an_exec_keeps_the_containers_confinement_and_takes_its_own_command() {
        let opts = ExecOptions {
            args: vec!["sh".into()],
            env: vec!["A=1".into()],
            uid: 1000,
            gid: 1000,
            additional_gids: vec![1000, 10],
            terminal: true,
            console_size: Some((24, 80)),
            ..Default::default()
        };
        let p = exec_process(&base(), &opts).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(p.env().as_deref(), Some(&["A=1".to_string()][..]));
        assert_eq!(p.cwd(), &PathBuf::from("/srv"));
        assert_eq!(p.user().uid(), 1000);
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[1000, 10][..]));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(
            p.console_size().map(|b| (b.height(), b.width())),
            Some((24, 80))
        );
        assert_eq!(p.capabilities(), base().capabilities());
    }

    #[test]
    fn privileged_widens_the_capabilities_and_cwd_must_be_absolute() {
        let opts = ExecOptions {
            args: vec!["sh".into()],
            privileged: true,
            cwd: "/tmp".into(),
            ..Default::default()
        };
        let p = exec_process(&base(), &opts).unwrap();
        let eff = p
            .capabilities()
            .as_ref()
            .unwrap()
            .effective()
            .clone()
            .unwrap();
        assert!(eff.len() > 1);
        assert_eq!(p.cwd(), &PathBuf::from("/tmp"));
        let bad = ExecOptions {
            cwd: "tmp".into(),
            ..opts
        };
        assert!(matches!(
            exec_process(&base(), &bad),
            Err(SpecError::RelativeCwd(_))
        ));
    }
}
