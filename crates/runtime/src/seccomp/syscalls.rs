//! The syscall tables of Docker's default seccomp profile (moby/profiles/seccomp v0.2.3), as
//! plain data. `super` turns them into an OCI `LinuxSeccomp` for one container.
//!
//! Names that this host's libseccomp does not know are kept: libcontainer (and runc, crun)
//! skip a name they cannot resolve, so one table serves old and new hosts alike. The
//! comments on the newest names give the first kernel and libseccomp that know them.

use oci_spec::runtime::LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpGt, ScmpCmpLt, ScmpCmpMaskedEq};

use super::{Action, Arg, Filter, Rule};

/// Allowed for every container, whatever its capabilities.
#[rustfmt::skip]
pub(super) const ALWAYS_ALLOWED: &[&str] = &[
    // Files and descriptors.
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fchdir", "fchmod", "fchmodat",
    "fchmodat2", // kernel 6.6, libseccomp 2.5.5
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "flock", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
    "futimesat", "getcwd", "getdents", "getdents64", "ioctl", "lchown", "lchown32", "link",
    "linkat", "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat",
    "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pipe", "pipe2", "pread64",
    "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "rename", "renameat", "renameat2", "rmdir", "sendfile", "sendfile64",
    "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat",
    "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice", "write", "writev",
    "cachestat", // kernel 6.5, libseccomp 2.5.5
    "listmount", // kernel 6.8, libseccomp 2.6.0
    "statmount", // kernel 6.8, libseccomp 2.6.0
    // Extended attributes.
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr",
    "listxattr", "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
    "getxattrat", "listxattrat", "removexattrat", "setxattrat", // kernel 6.13, libseccomp 2.6.0
    // Polling, events and asynchronous I/O.
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
    "io_submit", "_newselect", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64",
    "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64",
    // Sockets (socket(2) itself is filtered by family, see RULES).
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg",
    "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
    // Processes, threads and credentials.
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getresgid", "getresgid32",
    "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
    "get_thread_area", "gettid", "getuid", "getuid32", "ioprio_get", "ioprio_set", "kill",
    "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "process_mrelease",
    "restart_syscall", "rseq", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setrlimit", "set_robust_list", "setsid", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "tgkill", "tkill", "ugetrlimit", "vfork", "wait4", "waitid", "waitpid",
    // Futexes.
    "futex", "futex_time64", "futex_waitv",
    "futex_requeue", "futex_wait", "futex_wake", // kernel 6.7, libseccomp 2.5.5
    // Signals.
    "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
    // Scheduling.
    "getcpu", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield",
    // Memory.
    "brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2",
    "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall",
    "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    "map_shadow_stack", // kernel 6.6, libseccomp 2.5.5
    "mseal",            // kernel 6.9, libseccomp 2.6.0
    // Clocks and timers (reading only: setting the clock needs CAP_SYS_TIME).
    "adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep", "setitimer", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
    "timer_settime", "timer_settime64", "times",
    // System V and POSIX IPC.
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget",
    // Self-sandboxing and system information.
    "getrandom", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "seccomp", "sysinfo", "uname",
    "riscv_hwprobe", // kernel 6.12, libseccomp 2.6.0
    "uretprobe",     // kernel 6.11, libseccomp 2.6.0
];

const NONE: Filter = Filter {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

const fn caps(caps: &'static [&'static str]) -> Filter {
    Filter {
        caps,
        arches: &[],
        min_kernel: None,
    }
}

const fn arches(arches: &'static [&'static str]) -> Filter {
    Filter {
        caps: &[],
        arches,
        min_kernel: None,
    }
}

const fn allow(names: &'static [&'static str], includes: Filter) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args: &[],
        includes,
        excludes: NONE,
    }
}

const fn allow_args(names: &'static [&'static str], args: &'static [Arg]) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args,
        includes: NONE,
        excludes: NONE,
    }
}

const fn arg(index: usize, op: oci_spec::runtime::LinuxSeccompOperator, value: u64) -> Arg {
    Arg {
        index,
        value,
        value_two: None,
        op,
    }
}

// The families socket(2) may not open: AF_ALG (38) and AF_VSOCK (40), adjacent but for
// AF_KCM (39), hence three rules instead of one "not in" comparison seccomp cannot express.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

// clone(2) flags that create namespaces. Without CAP_SYS_ADMIN a container may clone, but not
// into new namespaces: that is the door to mount tricks the rest of the profile closes.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// Every rule after [`ALWAYS_ALLOWED`], in Docker's order, with Docker's conditions.
pub(super) const RULES: &[Rule] = &[
    Rule {
        names: &["process_vm_readv", "process_vm_writev", "ptrace"],
        action: Action::Allow,
        args: &[],
        includes: Filter {
            caps: &[],
            arches: &[],
            min_kernel: Some((4, 8)),
        },
        excludes: NONE,
    },
    allow_args(&["socket"], &[arg(0, ScmpCmpLt, AF_ALG)]),
    allow_args(&["socket"], &[arg(0, ScmpCmpEq, AF_ALG + 1)]),
    allow_args(&["socket"], &[arg(0, ScmpCmpGt, AF_VSOCK)]),
    // The personalities programs set for themselves: PER_LINUX, PER_LINUX32,
    // UNAME26, UNAME26|PER_LINUX32, and 0xffffffff, which only queries.
    allow_args(&["personality"], &[arg(0, ScmpCmpEq, 0x0)]),
    allow_args(&["personality"], &[arg(0, ScmpCmpEq, 0x0008)]),
    allow_args(&["personality"], &[arg(0, ScmpCmpEq, 0x20000)]),
    allow_args(&["personality"], &[arg(0, ScmpCmpEq, 0x20008)]),
    allow_args(&["personality"], &[arg(0, ScmpCmpEq, 0xffffffff)]),
    allow(&["sync_file_range2", "swapcontext"], arches(&["ppc64le"])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arches(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], arches(&["amd64", "x32"])),
    allow(&["modify_ldt"], arches(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arches(&["s390", "s390x"]),
    ),
    allow(&["riscv_flush_icache"], arches(&["riscv64"])),
    allow(&["open_by_handle_at"], caps(&["CAP_DAC_READ_SEARCH"])),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr", // kernel 6.8, libseccomp 2.6.0
            "lsm_list_modules",  // kernel 6.8, libseccomp 2.6.0
            "lsm_set_self_attr", // kernel 6.8, libseccomp 2.6.0
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        caps(&["CAP_SYS_ADMIN"]),
    ),
    Rule {
        names: &["clone"],
        action: Action::Allow,
        args: &[Arg {
            index: 0,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: Some(0),
            op: ScmpCmpMaskedEq,
        }],
        includes: NONE,
        excludes: Filter {
            caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            min_kernel: None,
        },
    },
    // s390 passes clone's flags as the second argument.
    Rule {
        names: &["clone"],
        action: Action::Allow,
        args: &[Arg {
            index: 1,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: Some(0),
            op: ScmpCmpMaskedEq,
        }],
        includes: arches(&["s390", "s390x"]),
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    // clone3 passes its flags in memory, where seccomp cannot look; ENOSYS (not EPERM) makes
    // glibc fall back to clone, which the rule above can check.
    Rule {
        names: &["clone3"],
        action: Action::Errno(libc::ENOSYS as u32),
        args: &[],
        includes: NONE,
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    allow(&["reboot"], caps(&["CAP_SYS_BOOT"])),
    allow(&["chroot"], caps(&["CAP_SYS_CHROOT"])),
    allow(
        &["delete_module", "init_module", "finit_module"],
        caps(&["CAP_SYS_MODULE"]),
    ),
    allow(&["acct"], caps(&["CAP_SYS_PACCT"])),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        caps(&["CAP_SYS_PTRACE"]),
    ),
    allow(&["iopl", "ioperm"], caps(&["CAP_SYS_RAWIO"])),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        caps(&["CAP_SYS_TIME"]),
    ),
    allow(&["vhangup"], caps(&["CAP_SYS_TTY_CONFIG"])),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node", // kernel 5.17, libseccomp 2.5.4
        ],
        caps(&["CAP_SYS_NICE"]),
    ),
    allow(&["syslog"], caps(&["CAP_SYSLOG"])),
    allow(&["bpf"], caps(&["CAP_BPF"])),
    allow(&["perf_event_open"], caps(&["CAP_PERFMON"])),
];
