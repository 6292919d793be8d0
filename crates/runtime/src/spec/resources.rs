//! cgroup resources: Docker's limits, their validation, and the device rules.

use oci_spec::runtime::{
    LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxPids, LinuxResources,
};

use super::{Host, SpecError, SpecOptions};

/// Docker's floor for `--memory` (and for the swap limit derived from it).
const MIN_MEMORY: i64 = 6 << 20;

fn device_rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow)
        .set_typ((typ != LinuxDeviceType::A).then_some(typ))
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.into()));
    r
}

/// Docker's device rules plus the ones runc and youki add on their own (mknod of anything,
/// ptys, tun), so the list reads the same whichever runtime applies it. Everything else, FUSE
/// included, stays denied by the first rule; an explicit deny after the wildcard `m` rules is
/// one runc's cgroup v1 device emulator refuses ("cannot punch hole in existing wildcard rule").
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    let rwm = |major, minor| device_rule(true, C, Some(major), minor, "rwm");
    vec![
        device_rule(false, A, None, None, "rwm"),
        device_rule(true, C, None, None, "m"),
        device_rule(true, B, None, None, "m"),
        rwm(1, Some(3)),    // null
        rwm(1, Some(5)),    // zero
        rwm(1, Some(7)),    // full
        rwm(1, Some(8)),    // random
        rwm(1, Some(9)),    // urandom
        rwm(5, Some(0)),    // tty
        rwm(5, Some(1)),    // console
        rwm(5, Some(2)),    // ptmx
        rwm(136, None),     // pts
        rwm(10, Some(200)), // tun
    ]
}

pub(super) fn resources(opts: &SpecOptions, host: &Host) -> Result<LinuxResources, SpecError> {
    let mut res = limits(&opts.resources, host)?;
    res.set_devices(Some(if opts.privileged {
        vec![device_rule(true, LinuxDeviceType::A, None, None, "rwm")]
    } else {
        default_device_rules()
    }));
    Ok(res)
}

/// The limits alone, without device rules: what a start applies besides them, and what an
/// update of a running container changes.
pub(super) fn limits(r: &super::Resources, host: &Host) -> Result<LinuxResources, SpecError> {
    let memory = r.memory.unwrap_or(0);
    let swap = r.memory_swap.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(SpecError::MemoryTooLow);
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(SpecError::SwapBelowMemory);
    }
    if memory == 0 && swap > 0 {
        return Err(SpecError::SwapWithoutMemory);
    }
    let nano = r.nano_cpus.unwrap_or(0);
    if nano < 0 || nano > host.cpus as i64 * 1_000_000_000 {
        return Err(SpecError::CpuRange(host.cpus));
    }

    let mut res = LinuxResources::default();

    if host.cgroup_v2 && r.memory_swappiness.is_some() {
        return Err(SpecError::NotOnCgroupV2("--memory-swappiness"));
    }
    if host.cgroup_v2 && r.oom_kill_disable {
        return Err(SpecError::NotOnCgroupV2("--oom-kill-disable"));
    }
    let reservation = r.memory_reservation.filter(|m| *m > 0);
    if memory > 0 || reservation.is_some() || r.memory_swappiness.is_some() || r.oom_kill_disable {
        let mut mem = LinuxMemory::default();
        if memory > 0 {
            mem.set_limit(Some(memory));
            // Without swap accounting the kernel has nowhere to put a swap limit; Docker then
            // limits memory alone.
            if host.swap_limit {
                mem.set_swap(Some(match swap {
                    0 => memory.saturating_mul(2),
                    s if s < 0 => -1,
                    s => s,
                }));
            }
        }
        mem.set_reservation(reservation)
            .set_swappiness(r.memory_swappiness)
            .set_disable_oom_killer(r.oom_kill_disable.then_some(true));
        res.set_memory(Some(mem));
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if let Some(shares) = r.cpu_shares.filter(|&s| s > 0) {
        cpu.set_shares(Some(shares));
        any_cpu = true;
    }
    if nano > 0 {
        const PERIOD: u64 = 100_000; // µs, the CFS default
        cpu.set_period(Some(PERIOD))
            .set_quota(Some(nano * PERIOD as i64 / 1_000_000_000));
        any_cpu = true;
    }
    if let Some(period) = r.cpu_period.filter(|p| *p > 0) {
        cpu.set_period(Some(period));
        any_cpu = true;
    }
    if let Some(quota) = r.cpu_quota.filter(|q| *q != 0) {
        cpu.set_quota(Some(quota));
        any_cpu = true;
    }
    if let Some(cpus) = r.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.set_cpus(Some(cpus.clone()));
        any_cpu = true;
    }
    if let Some(mems) = r.cpuset_mems.as_ref().filter(|c| !c.is_empty()) {
        cpu.set_mems(Some(mems.clone()));
        any_cpu = true;
    }
    if any_cpu {
        res.set_cpu(Some(cpu));
    }

    if let Some(limit) = r.pids_limit {
        let mut pids = LinuxPids::default();
        // The API's 0 and negatives both mean unlimited; runtimes spell that -1.
        pids.set_limit(if limit <= 0 { -1 } else { limit });
        res.set_pids(Some(pids));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use crate::spec::tests::{build, err, host, opts, resources_of};
    use crate::spec::{build_spec_on, Host, Resources, SpecOptions};

    #[test]
    fn memory_and_swap() {
        let mib = 1 << 20;
        let mem = |memory, memory_swap| {
            let o = SpecOptions {
                resources: Resources {
                    memory,
                    memory_swap,
                    ..Default::default()
                },
                ..opts()
            };
            let s = build(&o);
            let m = *resources_of(&s).memory().as_ref().unwrap();
            (m.limit(), m.swap())
        };
        assert_eq!(mem(Some(64 * mib), None), (Some(64 * mib), Some(128 * mib)));
        assert_eq!(
            mem(Some(64 * mib), Some(0)),
            (Some(64 * mib), Some(128 * mib))
        );
        assert_eq!(mem(Some(64 * mib), Some(-1)), (Some(64 * mib), Some(-1)));
        assert_eq!(
            mem(Some(64 * mib), Some(100 * mib)),
            (Some(64 * mib), Some(100 * mib))
        );
        assert_eq!(
            mem(Some(6 * mib), Some(6 * mib)),
            (Some(6 * mib), Some(6 * mib))
        );

        let no_swap = Host {
            swap_limit: false,
            ..host()
        };
        let o = SpecOptions {
            resources: Resources {
                memory: Some(64 * mib),
                ..Default::default()
            },
            ..opts()
        };
        let s = build_spec_on(&o, &no_swap).unwrap();
        assert_eq!(resources_of(&s).memory().unwrap().swap(), None);

        let bad = |memory, memory_swap| {
            err(&SpecOptions {
                resources: Resources {
                    memory,
                    memory_swap,
                    ..Default::default()
                },
                ..opts()
            })
        };
        assert_eq!(bad(Some(mib), None), "Minimum memory limit allowed is 6MB");
        assert_eq!(bad(Some(-5), None), "Minimum memory limit allowed is 6MB");
        assert_eq!(
            bad(Some(64 * mib), Some(32 * mib)),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            bad(None, Some(32 * mib)),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        // 0 is Docker's "unlimited".
        let s = build(&SpecOptions {
            resources: Resources {
                memory: Some(0),
                ..Default::default()
            },
            ..opts()
        });
        assert!(resources_of(&s).memory().is_none());
    }

    #[test]
    fn cpus_shares_and_pids() {
        let cpu = |nano_cpus| {
            let o = SpecOptions {
                resources: Resources {
                    nano_cpus,
                    ..Default::default()
                },
                ..opts()
            };
            let s = build(&o);
            let c = resources_of(&s).cpu().clone().unwrap();
            (c.quota(), c.period())
        };
        assert_eq!(cpu(Some(1_500_000_000)), (Some(150_000), Some(100_000)));
        assert_eq!(cpu(Some(500_000_000)), (Some(50_000), Some(100_000)));
        assert_eq!(cpu(Some(10_000_000)), (Some(1_000), Some(100_000)));
        assert_eq!(cpu(Some(2_000_000_000)), (Some(200_000), Some(100_000)));
        let too_many = SpecOptions {
            resources: Resources {
                nano_cpus: Some(3_000_000_000),
                ..Default::default()
            },
            ..opts()
        };
        assert_eq!(
            err(&too_many),
            "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );

        let o = SpecOptions {
            resources: Resources {
                cpu_shares: Some(512),
                cpuset_cpus: Some("0-1".into()),
                pids_limit: Some(100),
                ..Default::default()
            },
            ..opts()
        };
        let s = build(&o);
        let c = resources_of(&s).cpu().clone().unwrap();
        assert_eq!(
            (c.shares(), c.cpus().as_deref(), c.quota()),
            (Some(512), Some("0-1"), None)
        );
        assert_eq!(resources_of(&s).pids().unwrap().limit(), 100);
        let s = build(&SpecOptions {
            resources: Resources {
                pids_limit: Some(0),
                ..Default::default()
            },
            ..opts()
        });
        assert_eq!(resources_of(&s).pids().unwrap().limit(), -1);
    }
}
