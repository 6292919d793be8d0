//! The builtin runtime: youki's libcontainer, linked into the shim.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::capabilities::drop_privileges;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::create_syscall;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use crate::runtime::{read_pid, ExecProcess, Runtime, RuntimeError, Stdio};
use crate::seccomp::bpf::Filter;

pub struct Builtin {
    root: PathBuf,
}

impl Builtin {
    pub fn new(root: PathBuf) -> Self {
        Builtin { root }
    }

    /// What libcontainer's forced delete does for a container without hooks (berth sets
    /// none): kill what is left in its cgroup, remove the cgroup, forget the state. libcontainer
    /// finds each controller's mount point anew through a dozen checked procfs reads, which
    /// made up most of the few milliseconds between a container's exit and its shim's report.
    /// `None` when the state is not as expected; libcontainer's own delete then does it.
    fn delete_quickly(&self, id: &str) -> Option<Result<(), RuntimeError>> {
        let dir = self.root.join(id);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("youki_config.json")).ok()?).ok()?;
        if !config["hooks"].is_null() {
            return None;
        }
        let cgroup = config["cgroup_path"].as_str()?;
        Some(
            crate::cgroups::remove(cgroup)
                .and_then(|_| std::fs::remove_dir_all(&dir))
                .map_err(|e| RuntimeError::Failed(format!("deleting container {id}: {e}"))),
        )
    }

    fn load(&self, id: &str) -> Result<Container, RuntimeError> {
        Container::load(self.root.join(id)).map_err(failed)
    }

    fn builder(
        &self,
        id: &str,
        stdio: Stdio,
        pid_file: &Path,
        confinement: Option<Confinement>,
    ) -> Result<ContainerBuilder, RuntimeError> {
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
            .with_executor(ProgramExecutor { confinement })
            .with_root_path(&self.root)
            .map_err(failed)?
            .with_pid_file(Some(pid_file))
            .map_err(failed)?;
        match stdio {
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => b = b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr),
            Stdio::Console { socket } => b = b.with_console_socket(Some(socket)),
        }
        Ok(b)
    }
}

/// Takes the seccomp profile out of the bundle libcontainer reads, so that the container's
/// init loads our compiled program instead (see [`crate::seccomp::bpf`]). Without
/// no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the container's program usually
/// lacks; libcontainer is therefore told to leave CAP_SYS_ADMIN and CAP_SETPCAP in the
/// effective and permitted sets, and the init drops to the container's own capabilities right
/// after loading the filter, before it executes anything of the container's.
fn confine_bundle(bundle: &Path, cache_dir: &Path) -> Result<Option<Confinement>, RuntimeError> {
    let path = bundle.join("config.json");
    // Read whole and parsed from memory, which serde_json does about a fifth faster than from
    // a stream (0.12 ms rather than 0.15 ms for Docker's 10 KB spec); this is on every start's
    // path.
    let bytes = std::fs::read(&path).map_err(failed)?;
    let mut spec: Spec = serde_json::from_slice(&bytes).map_err(failed)?;
    let Some(profile) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.seccomp_mut().take())
    else {
        return Ok(None);
    };
    let filter = Filter::for_profile(&profile, cache_dir).map_err(failed)?;
    // Kept in the bundle for processes exec'd into the container later.
    filter
        .save(&bundle.join(FILTER_FILE), &bundle.join(FILTER_FLAGS_FILE))
        .map_err(|e| RuntimeError::Failed(format!("saving the seccomp filter: {e}")))?;
    let caps = spec.process_mut().as_mut().and_then(widen_caps);
    spec.save(&path).map_err(failed)?;
    Ok(Some(Confinement { filter, caps }))
}

/// Where a container's compiled seccomp program is kept, in its bundle, and the flags it is
/// loaded with (a bundle from a berth that kept no flags file loads with none).
const FILTER_FILE: &str = "seccomp.bpf";
const FILTER_FLAGS_FILE: &str = "seccomp.flags";

/// Adds what loading a filter and dropping capabilities afterwards take; returns the
/// capabilities the process is meant to have.
fn widen_caps(process: &mut Process) -> Option<LinuxCapabilities> {
    let wanted = process.capabilities().clone()?;
    let mut wide = wanted.clone();
    let extra = [Capability::SysAdmin, Capability::Setpcap];
    let add = |set: &Option<Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(extra);
        Some(set)
    };
    wide.set_effective(add(wanted.effective()));
    wide.set_permitted(add(wanted.permitted()));
    process.set_capabilities(Some(wide));
    Some(wanted)
}

/// What the init does last before it reports ready (and so before anything of the
/// container's runs): load the seccomp filter, then narrow its capabilities to the
/// container's.
#[derive(Clone)]
struct Confinement {
    filter: Filter,
    caps: Option<LinuxCapabilities>,
}

impl Confinement {
    fn apply(&self) -> Result<(), String> {
        self.filter
            .load()
            .map_err(|e| format!("loading the seccomp filter: {e}"))?;
        if let Some(caps) = &self.caps {
            let syscall = create_syscall();
            drop_privileges(caps, syscall.as_ref())
                .map_err(|e| format!("dropping capabilities: {e}"))?;
        }
        Ok(())
    }
}

/// libcontainer's errors name its own internals; what a user needs is the innermost cause,
/// which is what the chain ends with.
fn failed(e: impl std::error::Error) -> RuntimeError {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.contains(&m) {
            msg = format!("{msg}: {m}");
        }
        src = s.source();
    }
    // The init process's own failure (exec of the program) is what matters; the wrapping
    // names libcontainer's internal steps.
    const INIT_FAILED: &str = "error in executing process : ";
    if let Some(i) = msg.find(INIT_FAILED) {
        msg = format!(
            "unable to start container process: {}",
            &msg[i + INIT_FAILED.len()..]
        );
    }
    RuntimeError::Failed(msg)
}

impl Runtime for Builtin {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
        pid_file: &Path,
    ) -> Result<i32, RuntimeError> {
        std::fs::create_dir_all(&self.root).map_err(|e| RuntimeError::Failed(e.to_string()))?;
        let confinement = confine_bundle(bundle, &self.root.join("seccomp"))?;
        self.builder(id, stdio, pid_file, confinement)?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(failed)?;
        read_pid(pid_file)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.start().map_err(failed)
    }

    fn exec(&self, id: &str, process: &ExecProcess, stdio: Stdio) -> Result<i32, RuntimeError> {
        // The container's filter binds exec'd processes too; libcontainer no longer sees it in
        // the bundle, so it comes from the file create left there.
        let bundle = self.load(id)?.bundle().to_path_buf();
        let saved = Filter::read_saved(&bundle.join(FILTER_FILE), &bundle.join(FILTER_FLAGS_FILE));
        let confinement = match saved.map_err(failed)? {
            Some(filter) => {
                let exec_err =
                    |e: &dyn std::fmt::Display| RuntimeError::Failed(format!("exec process: {e}"));
                let mut spec: Process = std::fs::read(&process.process_json)
                    .map_err(|e| exec_err(&e))
                    .and_then(|b| serde_json::from_slice(&b).map_err(|e| exec_err(&e)))?;
                let caps = widen_caps(&mut spec);
                serde_json::to_vec(&spec)
                    .map_err(|e| exec_err(&e))
                    .and_then(|b| {
                        std::fs::write(&process.process_json, b).map_err(|e| exec_err(&e))
                    })?;
                Some(Confinement { filter, caps })
            }
            None => None,
        };
        let pid = self
            .builder(id, stdio, &process.pid_file, confinement)?
            .as_tenant()
            .with_process(Some(&process.process_json))
            .with_detach(true)
            .build()
            .map_err(failed)?;
        Ok(pid.as_raw())
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.pause().map_err(failed)
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id)?.resume().map_err(failed)
    }

    fn kill_all(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let sig = Signal::try_from(signal).map_err(failed)?;
        self.load(id)?.kill(sig, true).map_err(failed)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if force {
            if let Some(done) = self.delete_quickly(id) {
                return done;
            }
        }
        match Container::load(self.root.join(id)) {
            Ok(mut c) => c.delete(force).map_err(failed),
            // Nothing was created (or it is already gone): nothing to delete.
            Err(_) if !self.root.join(id).exists() => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }
}

/// What a shim can do for the builtin runtime before it knows its container (while it waits
/// for its config): libcontainer reaches /proc through pathrs, which makes a private procfs
/// instance the first time in each process and caches it. Made in the shim, it is inherited
/// by the runtime's intermediate and init processes, which would otherwise make their own on
/// a start's path. If it cannot be made here, they make it as before. The host's cgroup
/// hierarchies are found now too, for removing the container's cgroups at its exit.
pub fn warm_up() {
    let _ = pathrs::procfs::ProcfsHandle::new();
    crate::cgroups::hierarchies();
}

/// Runs the container's program, reporting a program that cannot run in the words runc uses,
/// which are the words Docker users (and the docker CLI's exit-code logic) know.
#[derive(Clone)]
struct ProgramExecutor {
    confinement: Option<Confinement>,
}

impl Executor for ProgramExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec.process().as_ref();
        let args = process.and_then(|p| p.args().as_ref());
        let Some(program) = args.and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(
                "no command specified".into(),
            ));
        };
        let env = process.and_then(|p| p.env().as_ref());
        let path_var = env
            .and_then(|e| e.iter().find_map(|v| v.strip_prefix("PATH=")))
            .unwrap_or("");
        check_program(program, path_var).map_err(ExecutorValidationError::ArgValidationError)
    }

    /// Confines the process before the init reports ready, where libcontainer would load the
    /// spec's own filter: the kernel's work of loading it (about half a millisecond) then
    /// overlaps the start signal's round trip through the shim and berthd instead of
    /// delaying the program after the start. Waiting for that signal takes only calls the
    /// filter allows (as it must under the init's own load, which comes at the same point).
    fn prepare(&self, _spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(c) = &self.confinement {
            c.apply().map_err(ExecutorError::Other)?;
        }
        reset_signals();
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .ok_or(ExecutorError::InvalidArg)?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
            .collect::<Result<_, _>>()?;
        let err = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
        Err(ExecutorError::Other(format!(
            "exec: {:?}: {}",
            args[0],
            err.desc()
        )))
    }
}

/// The container's program starts with every signal at its default and none blocked, as it
/// would under runc: the shim ignores SIGPIPE (a vanished client must not kill it), and an
/// ignored signal stays ignored across exec, which would break every pipeline in the container.
fn reset_signals() {
    // The kernel's sigaction layout; the raw call reaches the real-time signals glibc keeps
    // for itself (32, 33), which may have been inherited as ignored too.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid struct and a null old-action pointer, just before
        // exec in a single-threaded child.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// The PATH lookup runc does before exec, so that "not found" and "not executable" are told
/// apart at create time, as Docker reports them.
pub fn check_program(program: &str, path_var: &str) -> Result<(), String> {
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(program))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        match std::fs::metadata(c) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(()),
            Ok(_) => denied = denied.or(Some(c.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied = denied.or(Some(c.clone()))
            }
            Err(_) => {}
        }
    }
    match denied {
        Some(p) if program.contains('/') => Err(format!(
            "exec: {:?}: permission denied",
            p.display().to_string()
        )),
        Some(_) => Err(format!("exec: {program:?}: permission denied")),
        None if program.contains('/') => Err(format!(
            "exec: {program:?}: stat {program}: no such file or directory"
        )),
        None => Err(format!(
            "exec: {program:?}: executable file not found in $PATH"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_checks_read_like_runc() {
        assert!(check_program("sh", "/nonexistent:/bin").is_ok());
        assert_eq!(
            check_program("no-such-program", "/bin").unwrap_err(),
            "exec: \"no-such-program\": executable file not found in $PATH"
        );
        assert_eq!(
            check_program("/no/such", "/bin").unwrap_err(),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        assert_eq!(
            check_program("/etc/passwd", "/bin").unwrap_err(),
            "exec: \"/etc/passwd\": permission denied"
        );
        assert_eq!(
            check_program("/etc", "").unwrap_err(),
            "exec: \"/etc\": permission denied"
        );
    }
}
