//! Capabilities as Docker computes them: names, `--cap-add`/`--cap-drop`, `ALL`, privileged.

use std::collections::HashSet;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use super::{Host, SpecError, SpecOptions, DEFAULT_CAPABILITIES};

/// Every capability the kernel knows, indexed by bit number (see capability.h). Reading the
/// bounding set as a bit mask needs this mapping; 40 (CAP_CHECKPOINT_RESTORE) is the last.
pub(super) const CAPABILITY_BITS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub(super) fn normalize_on(
    s: &str,
    available: Option<&[&'static str]>,
) -> Result<String, SpecError> {
    let upper = s.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let name = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if !CAPABILITY_BITS.contains(&name.as_str()) {
        return Err(SpecError::UnknownCapability(name));
    }
    if available.is_some_and(|caps| !caps.contains(&name.as_str())) {
        return Err(SpecError::UnavailableCapability(name));
    }
    Ok(name)
}

pub(super) fn caps_from_mask(mask: u64) -> Vec<&'static str> {
    CAPABILITY_BITS
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Docker's TweakCapabilities: the defaults, less `--cap-drop`, plus `--cap-add`; `ALL` on
/// either side means every capability we have; `--privileged` gets them all regardless.
pub(super) fn capabilities(opts: &SpecOptions, host: &Host) -> Result<Vec<String>, SpecError> {
    let available = host.bounding.as_deref();
    let normalize = |field: &'static str, list: &[String]| -> Result<Vec<String>, SpecError> {
        list.iter()
            .map(|c| {
                normalize_on(c, available).map_err(|e| SpecError::InvalidCapability {
                    field,
                    reason: Box::new(e),
                })
            })
            .collect()
    };
    // Validated even when privileged, as Docker validates them at create.
    let drop = normalize("CapDrop", &opts.cap_drop)?;
    let add = normalize("CapAdd", &opts.cap_add)?;
    let all = || -> Vec<String> {
        available
            .unwrap_or(&CAPABILITY_BITS)
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let has_all = |l: &[String]| l.iter().any(|c| c == "ALL");

    let caps: Vec<String> = if opts.privileged {
        all()
    } else if has_all(&add) {
        all().into_iter().filter(|c| !drop.contains(c)).collect()
    } else if has_all(&drop) {
        add
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .chain(add)
            .collect()
    };
    let mut seen = HashSet::new();
    Ok(caps
        .into_iter()
        .filter(|c| seen.insert(c.clone()))
        .collect())
}

/// Bounding, effective and permitted hold the set; inheritable and ambient stay empty so a
/// non-root user loses the capabilities at exec, as in Docker.
pub(super) fn capability_sets(caps: &[String]) -> Result<LinuxCapabilities, SpecError> {
    use serde::de::IntoDeserializer;
    use serde::Deserialize;
    let set: Capabilities = caps
        .iter()
        .map(|c| {
            Capability::deserialize(c.as_str().into_deserializer())
                .map_err(|e: serde::de::value::Error| SpecError::UnknownCapability(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let mut sets = LinuxCapabilities::default();
    sets.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(None)
        .set_ambient(None);
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{build, cap_names, err, host, opts, set, strings};
    use crate::spec::{normalize_capability, SpecOptions};

    #[test]
    fn capability_names_normalise() {
        let avail = host().bounding;
        let n = |s| normalize_on(s, avail.as_deref());
        assert_eq!(n("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(n("CAP_NET_ADMIN").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(n("Cap_Sys_Admin").unwrap(), "CAP_SYS_ADMIN");
        assert_eq!(n("all").unwrap(), "ALL");
        assert_eq!(
            n("foo").unwrap_err().to_string(),
            r#"unknown capability: "CAP_FOO""#
        );
        assert_eq!(
            n("sys_resource").unwrap_err().to_string(),
            r#"capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE""#
        );
        assert_eq!(
            normalize_on("sys_resource", None).unwrap(),
            "CAP_SYS_RESOURCE"
        );
        // Our own bounding set holds Docker's defaults, whatever machine the tests run on.
        for c in DEFAULT_CAPABILITIES {
            assert_eq!(normalize_capability(c).unwrap(), *c);
        }
    }

    #[test]
    fn cap_add_and_drop() {
        let o = SpecOptions {
            cap_add: strings(&["net_admin", "SYS_PTRACE"]),
            cap_drop: strings(&["MKNOD", "cap_net_raw"]),
            ..opts()
        };
        let got = cap_names(&build(&o));
        assert!(got.contains("CAP_NET_ADMIN") && got.contains("CAP_SYS_PTRACE"));
        assert!(!got.contains("CAP_MKNOD") && !got.contains("CAP_NET_RAW"));
        assert_eq!(got.len(), 14);

        let o = SpecOptions {
            cap_add: strings(&["ALL"]),
            cap_drop: strings(&["NET_ADMIN"]),
            ..opts()
        };
        let got = cap_names(&build(&o));
        assert_eq!(got.len(), 39);
        assert!(!got.contains("CAP_NET_ADMIN") && !got.contains("CAP_SYS_RESOURCE"));

        let o = SpecOptions {
            cap_add: strings(&["chown"]),
            cap_drop: strings(&["all"]),
            ..opts()
        };
        assert_eq!(cap_names(&build(&o)), set(&["CAP_CHOWN"]));

        let o = SpecOptions {
            cap_add: strings(&["FOO"]),
            ..opts()
        };
        assert_eq!(err(&o), r#"invalid CapAdd: unknown capability: "CAP_FOO""#);
        let o = SpecOptions {
            cap_drop: strings(&["bar"]),
            ..opts()
        };
        assert_eq!(err(&o), r#"invalid CapDrop: unknown capability: "CAP_BAR""#);
    }
}
