//! Docker's default seccomp profile, as an OCI `LinuxSeccomp`.
//!
//! The profile is Docker's (moby/profiles/seccomp): everything is refused with EPERM except a
//! long list of ordinary syscalls, plus groups that open up when the container holds the
//! capability that makes them meaningful (`mount` with CAP_SYS_ADMIN, `ptrace` with
//! CAP_SYS_PTRACE, ...). Like Docker, the groups are resolved here, against the container's
//! bounding set, so the runtime only sees a flat rule list.

pub mod bpf;
mod syscalls;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall,
};

/// Docker's default profile for a container whose bounding set is `caps` (names such as
/// `"CAP_SYS_ADMIN"`), for this host's architecture and kernel.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    profile_for(caps, host_arch(), kernel_version())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Allow,
    Errno(u32),
}

#[derive(Clone, Copy, Debug)]
struct Arg {
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
}

/// A condition on the container, with Docker's meaning: an `includes` filter must match in
/// full (the arch is listed, every cap is held, the kernel is new enough), an `excludes`
/// filter rules a rule out as soon as any part of it matches.
#[derive(Clone, Copy, Debug)]
struct Filter {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
struct Rule {
    names: &'static [&'static str],
    action: Action,
    args: &'static [Arg],
    includes: Filter,
    excludes: Filter,
}

/// The architecture as the profile's filters name it (Go's GOARCH, "x86" for 386).
fn host_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else if cfg!(target_arch = "x86") {
        "x86"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "s390x") {
        "s390x"
    } else if cfg!(target_arch = "riscv64") {
        "riscv64"
    } else if cfg!(target_arch = "loongarch64") {
        "loongarch64"
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        "ppc64le"
    } else {
        "unknown"
    }
}

/// The ABIs a container may use on `arch`. Listing the 32-bit ABIs of a 64-bit host keeps
/// i386 and x32 binaries working (with the same rules) instead of failing every syscall.
/// Docker lists nothing for other arches, which leaves the runtime on the native ABI only.
fn architectures(arch: &str) -> Vec<Arch> {
    match arch {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        "loongarch64" => vec![Arch::ScmpArchLoongarch64],
        _ => Vec::new(),
    }
}

/// Whether this kernel runs x32 syscalls (CONFIG_X86_X32_ABI, off in most distributions).
/// Where it does not, x32 calls fail before any filter sees them, so leaving x32 out of the
/// filter changes nothing a container can do; and it saves libseccomp a third of its work,
/// which every container start pays (about 7 ms of 15 on a 2-CPU VM).
fn x32_abi_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        if !cfg!(target_arch = "x86_64") {
            return false;
        }
        const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
        // SAFETY: getpid through the x32 entry point: no arguments, no side effects; an
        // x32-less kernel answers ENOSYS.
        let r = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
        r > 0
    })
}

/// The running kernel's major.minor, `None` if it cannot be read or parsed.
fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel_version(&release)
}

fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether `rule` belongs in the profile of a container with `caps` on `arch`. An unknown
/// kernel counts as new enough: the only version gate is 4.8, older than anything the
/// rest of berth runs on.
fn applies(rule: &Rule, caps: &[String], arch: &str, kernel: Option<(u32, u32)>) -> bool {
    let has = |cap: &&str| caps.iter().any(|c| c == cap);
    let at_least = |min: (u32, u32)| kernel.is_none_or(|k| k >= min);

    let ex = &rule.excludes;
    if ex.arches.contains(&arch) || ex.caps.iter().any(has) || ex.min_kernel.is_some_and(at_least) {
        return false;
    }
    let inc = &rule.includes;
    (inc.arches.is_empty() || inc.arches.contains(&arch))
        && inc.caps.iter().all(has)
        && inc.min_kernel.is_none_or(at_least)
}

fn syscall(names: &[&str], action: Action, args: &[Arg]) -> LinuxSyscall {
    let mut sc = LinuxSyscall::default();
    sc.set_names(names.iter().map(|n| n.to_string()).collect());
    match action {
        Action::Allow => sc.set_action(LinuxSeccompAction::ScmpActAllow),
        Action::Errno(errno) => sc
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(errno)),
    };
    if !args.is_empty() {
        sc.set_args(Some(args.iter().map(seccomp_arg).collect()));
    }
    sc
}

fn seccomp_arg(arg: &Arg) -> LinuxSeccompArg {
    let mut builder = oci_spec::runtime::LinuxSeccompArgBuilder::default()
        .index(arg.index)
        .value(arg.value)
        .op(arg.op);
    if let Some(two) = arg.value_two {
        builder = builder.value_two(two);
    }
    // Every field has a default, so building cannot fail.
    builder
        .build()
        .expect("LinuxSeccompArg has defaults for all fields")
}

fn profile_for(caps: &[String], arch: &str, kernel: Option<(u32, u32)>) -> LinuxSeccomp {
    let mut rules = vec![syscall(syscalls::ALWAYS_ALLOWED, Action::Allow, &[])];
    rules.extend(
        syscalls::RULES
            .iter()
            .filter(|r| applies(r, caps, arch, kernel))
            .map(|r| syscall(r.names, r.action, r.args)),
    );

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(libc::EPERM as u32))
        .set_syscalls(Some(rules));
    let mut arches = architectures(arch);
    if arch == "amd64" && !x32_abi_enabled() {
        arches.retain(|a| *a != Arch::ScmpArchX32);
    }
    if !arches.is_empty() {
        profile.set_architectures(Some(arches));
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompFilterFlag;
    use std::collections::HashSet;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn docker_default_caps() -> Vec<String> {
        crate::spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// The rules that mention `name`.
    fn rules_for<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    fn allowed_unconditionally(p: &LinuxSeccomp, name: &str) -> bool {
        rules_for(p, name)
            .iter()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
    }

    #[test]
    fn x32_probe_matches_the_kernel_config() {
        let config = std::process::Command::new("zgrep")
            .args(["-h", "^CONFIG_X86_X32_ABI=y", "/proc/config.gz"])
            .output();
        if let Ok(out) = config {
            if out.status.code() == Some(0) {
                assert!(x32_abi_enabled());
            } else if out.status.code() == Some(1)
                && std::path::Path::new("/proc/config.gz").exists()
            {
                assert!(!x32_abi_enabled());
            }
        }
    }

    #[test]
    fn defaults_match_docker() {
        let p = profile_for(&docker_default_caps(), "amd64", Some((6, 1)));
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        // x32 is listed where the kernel runs x32 syscalls at all.
        let mut want = vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86];
        if x32_abi_enabled() {
            want.push(Arch::ScmpArchX32);
        }
        assert_eq!(p.architectures().as_deref(), Some(&want[..]));
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "futex",
            "arch_prctl",
            "chroot",
        ] {
            assert!(
                allowed_unconditionally(&p, name),
                "{name} should be allowed"
            );
        }
        // Gated on capabilities the default set lacks.
        for name in [
            "mount",
            "unshare",
            "setns",
            "reboot",
            "init_module",
            "bpf",
            "kcmp",
        ] {
            assert!(rules_for(&p, name).is_empty(), "{name} should be refused");
        }
        // Kernel >= 4.8 lets ptrace through without CAP_SYS_PTRACE, as Docker does.
        assert!(allowed_unconditionally(&p, "ptrace"));
        // Not for amd64.
        assert!(rules_for(&p, "set_tls").is_empty());
        assert!(rules_for(&p, "riscv_flush_icache").is_empty());
    }

    #[test]
    fn old_kernel_loses_ptrace() {
        let p = profile_for(&docker_default_caps(), "amd64", Some((4, 4)));
        assert!(rules_for(&p, "ptrace").is_empty());
        let p = profile_for(&caps(&["CAP_SYS_PTRACE"]), "amd64", Some((4, 4)));
        assert!(allowed_unconditionally(&p, "ptrace"));
    }

    #[test]
    fn clone_without_sys_admin_is_filtered() {
        let p = profile_for(&docker_default_caps(), "amd64", Some((6, 1)));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().as_ref().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].value(), 0x7E020000);
        assert_eq!(args[0].value_two(), Some(0));
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);

        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
    }

    #[test]
    fn s390_filters_clone_second_argument() {
        let p = profile_for(&docker_default_caps(), "s390x", Some((6, 1)));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().unwrap()[0].index(), 1);
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchS390x, Arch::ScmpArchS390][..])
        );
    }

    #[test]
    fn sys_admin_opens_namespaces_and_mounts() {
        let mut c = docker_default_caps();
        c.push("CAP_SYS_ADMIN".into());
        let p = profile_for(&c, "amd64", Some((6, 1)));
        for name in [
            "clone",
            "clone3",
            "mount",
            "umount2",
            "unshare",
            "setns",
            "sethostname",
        ] {
            assert!(
                allowed_unconditionally(&p, name),
                "{name} should be allowed"
            );
        }
        // The restricted forms are gone, so no rule contradicts the plain allow.
        assert_eq!(rules_for(&p, "clone").len(), 1);
        assert_eq!(rules_for(&p, "clone3").len(), 1);
    }

    #[test]
    fn cap_gated_groups() {
        for (cap, name) in [
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_PTRACE", "process_madvise"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ] {
            let without = profile_for(&[], "amd64", Some((6, 1)));
            assert!(rules_for(&without, name).is_empty(), "{name} without {cap}");
            let with = profile_for(&caps(&[cap]), "amd64", Some((6, 1)));
            assert!(allowed_unconditionally(&with, name), "{name} with {cap}");
        }
    }

    #[test]
    fn personality_and_socket_are_argument_filtered() {
        let p = profile_for(&docker_default_caps(), "amd64", Some((6, 1)));
        let values: Vec<u64> = rules_for(&p, "personality")
            .iter()
            .map(|s| s.args().as_ref().unwrap()[0].value())
            .collect();
        assert_eq!(values, [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]);
        let socket = rules_for(&p, "socket");
        assert_eq!(socket.len(), 3);
        assert!(socket.iter().all(|s| s.args().is_some()));
    }

    #[test]
    fn arm64_profile() {
        let p = profile_for(&docker_default_caps(), "arm64", Some((6, 1)));
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(allowed_unconditionally(&p, "set_tls"));
        assert!(rules_for(&p, "arch_prctl").is_empty());
    }

    #[test]
    fn allow_list_has_no_duplicates() {
        let mut seen = HashSet::new();
        for name in syscalls::ALWAYS_ALLOWED {
            assert!(seen.insert(name), "{name} listed twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
        assert_eq!(seen.len(), 361);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v657\n"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8.0"), Some((4, 8)));
        assert_eq!(parse_kernel_version("5.15"), Some((5, 15)));
        assert_eq!(parse_kernel_version("garbage"), None);
    }

    #[test]
    fn serialises_like_docker() {
        let p = profile_for(&docker_default_caps(), "amd64", Some((6, 1)));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        assert_eq!(json["architectures"][0], "SCMP_ARCH_X86_64");
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 2114060288u64);
        let back: LinuxSeccomp = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }

    /// The errno of a raw syscall, `None` if it succeeded.
    fn errno(ret: libc::c_long) -> Option<i32> {
        (ret == -1).then(|| std::io::Error::last_os_error().raw_os_error().unwrap())
    }

    /// Compiles `profile` as the builtin runtime does, loads it on a scratch thread and runs
    /// `probe` under it. A filter binds only the thread that loads it, so the rest of the test
    /// process is untouched.
    fn under_filter<T: Send + 'static>(profile: LinuxSeccomp, probe: fn() -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let filter = bpf::Filter::for_profile(&profile, dir.path()).expect("compile profile");
        std::thread::spawn(move || {
            // Loading a filter needs CAP_SYS_ADMIN or no_new_privs; set the latter so the
            // test also runs unprivileged. It too is per thread.
            assert_eq!(
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
                0
            );
            filter.load().expect("load filter");
            probe()
        })
        .join()
        .expect("filtered thread")
    }

    /// clone(2) with CLONE_SIGHAND but no CLONE_VM is EINVAL in the kernel, so EINVAL means
    /// the filter let the call through and nothing was cloned.
    fn clone_errnos() -> (Option<i32>, Option<i32>) {
        let plain = unsafe { libc::syscall(libc::SYS_clone, libc::CLONE_SIGHAND, 0, 0, 0, 0) };
        let plain = errno(plain);
        let flags = libc::CLONE_SIGHAND | libc::CLONE_NEWUSER;
        let ns = errno(unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) });
        (plain, ns)
    }

    #[test]
    fn compiled_profile_filters() {
        let profile = default_profile(&docker_default_caps());
        let (clone, ns_clone, clone3, unshare, personality) = under_filter(profile, || {
            let (plain, ns) = clone_errnos();
            let c3 = errno(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) });
            let unshare = errno(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) });
            // 0xffffffff only queries the personality.
            let pers = errno(unsafe { libc::syscall(libc::SYS_personality, 0xffffffffu64) });
            (plain, ns, c3, unshare, pers)
        });
        assert_eq!(
            clone,
            Some(libc::EINVAL),
            "plain clone must pass the filter"
        );
        assert_eq!(
            ns_clone,
            Some(libc::EPERM),
            "clone into a namespace must be refused"
        );
        assert_eq!(clone3, Some(libc::ENOSYS), "clone3 must look unimplemented");
        assert_eq!(unshare, Some(libc::EPERM));
        assert_eq!(personality, None);
    }

    #[test]
    fn compiled_programs_are_cached_by_profile() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_profile(&docker_default_caps());
        let first = bpf::Filter::for_profile(&profile, dir.path()).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(std::fs::read(files[0].path()).unwrap(), first.program());
        // A damaged cache entry is compiled again, not loaded.
        std::fs::write(files[0].path(), b"garbage").unwrap();
        let again = bpf::Filter::for_profile(&profile, dir.path()).unwrap();
        assert_eq!(again, first);
        // Another profile is another program.
        let admin = default_profile(&caps(&["CAP_SYS_ADMIN"]));
        let other = bpf::Filter::for_profile(&admin, dir.path()).unwrap();
        assert_ne!(other.program(), first.program());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn saved_filters_keep_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let (prog, flags) = (dir.path().join("f.bpf"), dir.path().join("f.flags"));
        assert_eq!(bpf::Filter::read_saved(&prog, &flags).unwrap(), None);
        let mut profile = default_profile(&docker_default_caps());
        profile.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        let filter = bpf::Filter::for_profile(&profile, dir.path()).unwrap();
        assert_eq!(filter.flags(), libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
        filter.save(&prog, &flags).unwrap();
        assert_eq!(
            bpf::Filter::read_saved(&prog, &flags).unwrap(),
            Some(filter.clone())
        );
        // A program saved by a berth that kept no flags loads with none.
        std::fs::remove_file(&flags).unwrap();
        let old = bpf::Filter::read_saved(&prog, &flags).unwrap().unwrap();
        assert_eq!((old.program(), old.flags()), (filter.program(), 0));
        std::fs::write(&flags, "spec-allow").unwrap();
        assert!(bpf::Filter::read_saved(&prog, &flags).is_err());
    }

    #[test]
    fn notify_profiles_are_refused() {
        let mut profile = default_profile(&docker_default_caps());
        profile.set_default_action(LinuxSeccompAction::ScmpActNotify);
        let dir = tempfile::tempdir().unwrap();
        let err = bpf::Filter::for_profile(&profile, dir.path()).unwrap_err();
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
    }
}
