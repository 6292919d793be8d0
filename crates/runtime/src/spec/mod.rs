//! The OCI runtime spec (config.json) for a container, with Docker's defaults.
//!
//! What a container gets without flags is what `docker run` gives it (moby's
//! `oci/defaults.go` and `daemon/oci_linux.go`): the same mounts in the same order, the same
//! fourteen capabilities, masked and read-only `/proc` paths, device rules, the default
//! seccomp profile, and the same validation messages for bad resource limits.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxNamespace, LinuxNamespaceType, Mount, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec, User,
};

pub use exec::{exec_process, ExecOptions};
use host::Host;
pub use oci_spec::runtime::Mount as SpecMount;

mod caps;
mod exec;
mod host;
mod mounts;
mod resources;
#[cfg(test)]
mod tests;

/// Docker's default capabilities, in Docker's order.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's default `--shm-size`: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Everything about one container that shapes its spec. Paths, argv and env arrive already
/// resolved (image config merged with the user's flags).
#[derive(Debug, Clone)]
pub struct SpecOptions {
    /// Absolute path of the mounted rootfs.
    pub rootfs: PathBuf,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// Entrypoint and cmd, merged.
    pub args: Vec<String>,
    /// `KEY=VALUE`, merged.
    pub env: Vec<String>,
    /// Absolute working directory; empty means `/`.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// `-t`.
    pub terminal: bool,
    pub hostname: String,
    /// `--domainname`: the NIS domain of the container's UTS namespace.
    pub domainname: String,
    pub network: NamespaceMode,
    pub ipc: NamespaceMode,
    pub pid: NamespaceMode,
    /// `--uts host`: no UTS namespace, and so no hostname of its own.
    pub uts_host: bool,
    /// Host file to bind over `/etc/hostname`, `/etc/hosts` or `/etc/resolv.conf`.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// `/dev/shm` size in bytes; 0 means [`DEFAULT_SHM_SIZE`].
    pub shm_size: u64,
    pub privileged: bool,
    /// As typed: `NET_ADMIN`, `cap_net_admin`, `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub resources: Resources,
    /// e.g. `/berth/<id>` (cgroupfs driver).
    pub cgroups_path: String,
    /// `--security-opt seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    pub no_new_privileges: bool,
    /// `(soft, hard)`; `None` inherits the runtime's limits.
    pub rlimits_nofile: Option<(u64, u64)>,
    /// `--ulimit`: (name as Docker spells it, soft, hard), e.g. ("nofile", 1024, 2048).
    pub ulimits: Vec<(String, u64, u64)>,
    /// `--oom-score-adj`; `None` keeps berthd's own.
    pub oom_score_adj: Option<i32>,
    /// User mounts (volumes, binds, tmpfs), appended as given.
    pub mounts: Vec<Mount>,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions {
            rootfs: PathBuf::new(),
            readonly_rootfs: false,
            args: Vec::new(),
            env: Vec::new(),
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            terminal: false,
            hostname: String::new(),
            domainname: String::new(),
            network: NamespaceMode::New,
            ipc: NamespaceMode::New,
            pid: NamespaceMode::New,
            uts_host: false,
            etc_files: Vec::new(),
            shm_size: DEFAULT_SHM_SIZE,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            resources: Resources::default(),
            cgroups_path: String::new(),
            seccomp_unconfined: false,
            no_new_privileges: false,
            rlimits_nofile: None,
            ulimits: Vec::new(),
            oom_score_adj: None,
            mounts: Vec::new(),
        }
    }
}

/// How a container gets one kind of namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NamespaceMode {
    /// A fresh namespace of its own.
    #[default]
    New,
    /// The host's (the runtime's) namespace.
    Host,
    /// Join an existing namespace, e.g. `/proc/<pid>/ns/net` or a bind-mounted netns file.
    Path(PathBuf),
}

/// cgroup limits, with Docker's units and conventions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Bytes; 0 means unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap, bytes; -1 means unlimited swap, unset means twice `memory`.
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// 0 or negative means unlimited.
    pub pids_limit: Option<i64>,
    /// `--memory-reservation`: the soft limit, bytes.
    pub memory_reservation: Option<i64>,
    /// `--memory-swappiness`, 0 to 100 (cgroup v1 only).
    pub memory_swappiness: Option<u64>,
    /// `--oom-kill-disable` (cgroup v1 only).
    pub oom_kill_disable: bool,
    /// `--cpu-period` and `--cpu-quota`, microseconds.
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    #[error(
        "capability not supported by your kernel or not available in the current environment: {0:?}"
    )]
    UnavailableCapability(String),
    /// A bad `--cap-add` (`field` "CapAdd") or `--cap-drop` ("CapDrop"), worded as Docker's.
    #[error("invalid {field}: {reason}")]
    InvalidCapability {
        field: &'static str,
        reason: Box<SpecError>,
    },
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooLow,
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    #[error("range of CPUs is from 0.01 to {0}.00, as there are only {0} CPUs available")]
    CpuRange(usize),
    #[error("{0} is not supported on cgroup v2")]
    NotOnCgroupV2(&'static str),
    #[error("invalid ulimit {0:?}: {1}")]
    Ulimit(String, String),
    #[error("oom-score-adj {0} is below berthd's own ({1}): lowering it needs CAP_SYS_RESOURCE, which berthd does not hold")]
    OomScoreAdj(i32, i32),
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeCwd(String),
    #[error("rootfs path {0:?} is not absolute")]
    RelativeRootfs(PathBuf),
    #[error("{context} {path:?}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding the OCI spec: {0}")]
    Json(#[from] serde_json::Error),
}

pub(super) fn io_err<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SpecError + 'a {
    move |source| SpecError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// Docker's spelling of a capability: upper case, `CAP_` prefixed; `ALL` stays `ALL`. Fails,
/// as Docker does, for names the kernel does not know and for capabilities outside this
/// process's bounding set, which no container it starts could hold.
pub fn normalize_capability(s: &str) -> Result<String, SpecError> {
    caps::normalize_on(s, host::bounding_set().as_deref())
}

/// The machine's side of a spec, read once per process: none of it changes while berthd runs,
/// and probing it took a dozen file reads at every start.
fn host() -> &'static Host {
    static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
    HOST.get_or_init(Host::probe)
}

/// The cgroup limits of `r` as the spec (and libcgroups) take them, checked as at create.
pub fn limits(r: &Resources) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    resources::limits(r, host())
}

/// A user mount (a volume, bind or tmpfs) as the spec takes it.
pub fn user_mount(destination: &str, typ: &str, source: &Path, options: &[String]) -> Mount {
    let opts: Vec<&str> = options.iter().map(String::as_str).collect();
    mounts::mount(destination, typ, source, &opts)
}

/// The spec `docker run` would hand its runtime for `opts`.
pub fn build_spec(opts: &SpecOptions) -> Result<Spec, SpecError> {
    build_spec_on(opts, host())
}

fn build_spec_on(opts: &SpecOptions, host: &Host) -> Result<Spec, SpecError> {
    if !opts.rootfs.is_absolute() {
        return Err(SpecError::RelativeRootfs(opts.rootfs.clone()));
    }
    let cwd = if opts.cwd.is_empty() {
        "/"
    } else {
        opts.cwd.as_str()
    };
    if !cwd.starts_with('/') {
        return Err(SpecError::RelativeCwd(opts.cwd.clone()));
    }
    let caps = caps::capabilities(opts, host)?;
    let resources = resources::resources(opts, host)?;

    let mut process = Process::default();
    process
        .set_terminal(Some(opts.terminal))
        .set_console_size(None)
        .set_user(user(opts))
        .set_args(Some(opts.args.clone()))
        .set_command_line(None)
        .set_env(Some(opts.env.clone()))
        .set_cwd(PathBuf::from(cwd))
        .set_capabilities(Some(caps::capability_sets(&caps)?))
        .set_rlimits(rlimits(opts, host)?)
        .set_no_new_privileges(opts.no_new_privileges.then_some(true))
        .set_apparmor_profile(None)
        .set_oom_score_adj(Some(oom_score_adj(opts, host)?))
        .set_selinux_label(None)
        .set_io_priority(None)
        .set_scheduler(None)
        .set_exec_cpu_affinity(None);

    let mut root = Root::default();
    root.set_path(opts.rootfs.clone())
        .set_readonly(Some(opts.readonly_rootfs));

    let mut linux = Linux::default();
    linux
        .set_net_devices(None)
        .set_uid_mappings(None)
        .set_gid_mappings(None)
        .set_sysctl(sysctls(opts, host))
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(&opts.cgroups_path)))
        .set_namespaces(Some(namespaces(opts, host)))
        .set_devices(Some(if opts.privileged {
            host::host_devices(Path::new("/dev"))?
        } else {
            Vec::new()
        }))
        .set_seccomp(
            (!opts.privileged && !opts.seccomp_unconfined)
                .then(|| crate::seccomp::default_profile(&caps)),
        )
        .set_rootfs_propagation(mounts::rootfs_propagation(&opts.mounts))
        .set_masked_paths((!opts.privileged).then(|| mounts::masked_paths(host)))
        .set_readonly_paths((!opts.privileged).then(|| {
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ]
            .map(String::from)
            .to_vec()
        }))
        .set_mount_label(None)
        .set_intel_rdt(None)
        .set_memory_policy(None)
        .set_personality(None)
        .set_time_offsets(None);

    let mut spec = Spec::default();
    spec.set_version(oci_spec::runtime::VERSION.to_string())
        .set_root(Some(root))
        .set_mounts(Some(mounts::mounts(opts)))
        .set_process(Some(process))
        .set_hostname((!opts.uts_host && !opts.hostname.is_empty()).then(|| opts.hostname.clone()))
        .set_domainname(
            (!opts.domainname.is_empty() && !opts.uts_host).then(|| opts.domainname.clone()),
        )
        .set_hooks(None)
        .set_annotations(None)
        .set_linux(Some(linux));
    Ok(spec)
}

/// Writes `spec` as `<bundle>/config.json`, atomically: a crash leaves the old file or the
/// new one, never half of either.
pub fn write_spec(spec: &Spec, bundle: &Path) -> Result<(), SpecError> {
    // Compact, and not fsynced: the bundle lives for one run of the container in the exec root
    // (a tmpfs normally) and is written anew at every start, so it needs to be whole (temp
    // file and rename), not durable. Every start pays for what is written here.
    // The container's process as berth made it, before any runtime adapts the bundle (the
    // builtin one widens its capabilities for loading seccomp): what its execs start from.
    if let Some(p) = spec.process() {
        write_private(&serde_json::to_vec(p)?, &bundle.join(PROCESS_FILE))?;
    }
    write_private(&serde_json::to_vec(spec)?, &bundle.join("config.json"))
}

/// Where a bundle keeps the container's process for its execs (see [`write_spec`]).
const PROCESS_FILE: &str = "process.json";

/// The container's process as [`write_spec`] wrote it.
pub fn read_process(bundle: &Path) -> Result<Process, SpecError> {
    let path = bundle.join(PROCESS_FILE);
    let b = fs::read(&path).map_err(io_err("reading", &path))?;
    Ok(serde_json::from_slice(&b)?)
}

fn write_private(json: &[u8], target: &Path) -> Result<(), SpecError> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("spec");
    let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // The spec holds the container's environment: root's only.
    let written = {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::remove_file(&tmp);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(json))
            .and_then(|_| fs::rename(&tmp, target))
    };
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("writing", target)(e));
    }
    Ok(())
}

fn user(opts: &SpecOptions) -> User {
    process_user(opts.uid, opts.gid, &opts.additional_gids)
}

/// A process's identity as the spec holds it. Docker lists the primary group among the
/// supplementary ones, so that setgroups keeps it.
pub(super) fn process_user(uid: u32, gid: u32, additional: &[u32]) -> User {
    let mut gids = vec![gid];
    gids.extend(additional.iter().filter(|&&g| g != gid));
    let mut user = User::default();
    user.set_uid(uid)
        .set_gid(gid)
        .set_additional_gids(Some(gids));
    user
}

/// Docker resets every container to 0, but lowering our own score needs CAP_SYS_RESOURCE,
/// which we may not have: by default no less than we run with; a lower `--oom-score-adj` is
/// refused rather than quietly raised.
fn oom_score_adj(opts: &SpecOptions, host: &Host) -> Result<i32, SpecError> {
    match opts.oom_score_adj {
        None => Ok(host.oom_score_adj.max(0)),
        Some(v) if v < host.oom_score_adj => Err(SpecError::OomScoreAdj(v, host.oom_score_adj)),
        Some(v) => Ok(v),
    }
}

fn rlimit_type(name: &str) -> Option<(PosixRlimitType, libc::__rlimit_resource_t)> {
    use PosixRlimitType as T;
    Some(match name {
        "core" => (T::RlimitCore, libc::RLIMIT_CORE),
        "cpu" => (T::RlimitCpu, libc::RLIMIT_CPU),
        "data" => (T::RlimitData, libc::RLIMIT_DATA),
        "fsize" => (T::RlimitFsize, libc::RLIMIT_FSIZE),
        "locks" => (T::RlimitLocks, libc::RLIMIT_LOCKS),
        "memlock" => (T::RlimitMemlock, libc::RLIMIT_MEMLOCK),
        "msgqueue" => (T::RlimitMsgqueue, libc::RLIMIT_MSGQUEUE),
        "nice" => (T::RlimitNice, libc::RLIMIT_NICE),
        "nofile" => (T::RlimitNofile, libc::RLIMIT_NOFILE),
        "nproc" => (T::RlimitNproc, libc::RLIMIT_NPROC),
        "rss" => (T::RlimitRss, libc::RLIMIT_RSS),
        "rtprio" => (T::RlimitRtprio, libc::RLIMIT_RTPRIO),
        "rttime" => (T::RlimitRttime, libc::RLIMIT_RTTIME),
        "sigpending" => (T::RlimitSigpending, libc::RLIMIT_SIGPENDING),
        "stack" => (T::RlimitStack, libc::RLIMIT_STACK),
        "as" => (T::RlimitAs, libc::RLIMIT_AS),
        _ => return None,
    })
}

/// berthd's own hard limit of `resource` (`None`: unlimited).
fn own_hard_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut lim) } != 0 || lim.rlim_max == libc::RLIM_INFINITY {
        return None;
    }
    Some(lim.rlim_max)
}

fn rlimits(opts: &SpecOptions, host: &Host) -> Result<Option<Vec<PosixRlimit>>, SpecError> {
    let build = |typ, soft: u64, hard: u64| {
        PosixRlimitBuilder::default()
            .typ(typ)
            .hard(hard)
            .soft(soft)
            .build()
            .expect("PosixRlimit has defaults for all fields")
    };
    let mut out = Vec::new();
    if let Some((soft, hard)) = opts.rlimits_nofile {
        // Raising a hard limit needs CAP_SYS_RESOURCE; ask for no more than we hold.
        let hard = host.nofile_hard.map_or(hard, |max| hard.min(max));
        out.push(build(PosixRlimitType::RlimitNofile, soft.min(hard), hard));
    }
    for (name, soft, hard) in &opts.ulimits {
        let bad = |why: String| SpecError::Ulimit(format!("{name}={soft}:{hard}"), why);
        let (typ, resource) = rlimit_type(name).ok_or_else(|| bad("unknown limit".into()))?;
        if soft > hard {
            return Err(bad("the soft limit is above the hard one".into()));
        }
        // A hard limit above berthd's own needs CAP_SYS_RESOURCE, which berthd lacks: the
        // runtime would fail to set it, so say so now.
        if let Some(max) = own_hard_limit(resource).filter(|max| hard > max) {
            return Err(bad(format!(
                "the hard limit is above berthd's own ({max}), which it cannot raise"
            )));
        }
        out.retain(|l: &PosixRlimit| l.typ() != typ);
        out.push(build(typ, *soft, *hard));
    }
    Ok((!out.is_empty()).then_some(out))
}

fn sysctls(opts: &SpecOptions, host: &Host) -> Option<std::collections::HashMap<String, String>> {
    // Docker's defaults for a network namespace of the container's own: ping without
    // CAP_NET_RAW, and ports below 1024 without CAP_NET_BIND_SERVICE. Never on the host's.
    if opts.network == NamespaceMode::Host || host.net_sysctls.is_empty() {
        return None;
    }
    Some(
        host.net_sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn namespaces(opts: &SpecOptions, host: &Host) -> Vec<LinuxNamespace> {
    let ns = |typ, mode: &NamespaceMode| -> Option<LinuxNamespace> {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        match mode {
            NamespaceMode::New => {}
            NamespaceMode::Host => return None,
            NamespaceMode::Path(p) => {
                ns.set_path(Some(p.clone()));
            }
        }
        Some(ns)
    };
    let uts = if opts.uts_host {
        NamespaceMode::Host
    } else {
        NamespaceMode::New
    };
    // Docker's default cgroupns mode: private on cgroup v2, host on v1, where Docker kept
    // the behaviour older kernels and tools expect.
    let cgroup = if host.cgroup_v2 {
        NamespaceMode::New
    } else {
        NamespaceMode::Host
    };
    [
        ns(LinuxNamespaceType::Mount, &NamespaceMode::New),
        ns(LinuxNamespaceType::Network, &opts.network),
        ns(LinuxNamespaceType::Uts, &uts),
        ns(LinuxNamespaceType::Pid, &opts.pid),
        ns(LinuxNamespaceType::Ipc, &opts.ipc),
        ns(LinuxNamespaceType::Cgroup, &cgroup),
    ]
    .into_iter()
    .flatten()
    .collect()
}
