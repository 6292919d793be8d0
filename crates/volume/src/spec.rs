//! The ways a container asks for storage, read into one shape ([`MountRequest`]): `-v`
//! strings (`HostConfig.Binds`, and the CLI's split of `-v` into binds and anonymous volumes),
//! `HostConfig.Mounts` objects (`--mount`), `HostConfig.Tmpfs` (`--tmpfs`) and the anonymous
//! volumes of `Config.Volumes` and the image's `VOLUME`s. The checks and messages are dockerd's.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::VolumeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount a container asks for, before it is resolved (volumes created, sources found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub kind: MountKind,
    /// A host path (bind), a volume name (empty: anonymous), or nothing (tmpfs).
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// The mode string as given in a `-v` spec (`ro,z`), shown in inspect's `Mode`.
    pub mode: String,
    /// Bind propagation (`rprivate` unless asked).
    pub propagation: String,
    /// A `-v` bind creates a missing source directory; a `--mount` bind refuses it.
    pub create_source: bool,
    pub non_recursive: bool,
    /// `nocopy`: the image's content at the target is not copied into a new volume.
    pub no_copy: bool,
    /// `volume-subpath`: a directory inside the volume.
    pub subpath: String,
    /// `U` / `chown=true`: the volume's root goes to the container's user.
    pub chown: bool,
    /// Labels and driver options for a volume created for this mount.
    pub labels: BTreeMap<String, String>,
    pub driver_opts: BTreeMap<String, String>,
    /// tmpfs options (`size=…`, `mode=…`, flags).
    pub tmpfs_options: Vec<String>,
}

impl MountRequest {
    fn new(kind: MountKind, source: &str, target: &str) -> MountRequest {
        MountRequest {
            kind,
            source: source.to_string(),
            target: target.to_string(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            create_source: false,
            non_recursive: false,
            no_copy: false,
            subpath: String::new(),
            chown: false,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
            tmpfs_options: Vec::new(),
        }
    }

    /// An anonymous volume at `target` (`-v /path`, `Config.Volumes`, an image `VOLUME`).
    pub fn anonymous(target: &str) -> MountRequest {
        MountRequest::new(MountKind::Volume, "", target)
    }
}

/// The parts of a `-v` spec (`[source:]target[:mode]`). With `drives`, split as the docker
/// CLI's `volumespec` splits them: a one-letter first field followed by `:` is a Windows drive
/// letter and stays with its path; dockerd on Linux splits at every colon. `None` source: an
/// anonymous volume.
pub fn split_volume_spec(
    spec: &str,
    drives: bool,
) -> Result<(Option<String>, String, String), VolumeError> {
    let invalid = |why: &str| VolumeError::Invalid(format!("invalid spec: {spec}: {why}"));
    if spec.is_empty() {
        return Err(VolumeError::Invalid("invalid empty volume spec".into()));
    }
    let mut parts: Vec<String> = Vec::new();
    let mut buffer = String::new();
    let chars: Vec<Option<char>> = spec.chars().map(Some).chain([None]).collect();
    for c in chars {
        let drive = drives
            && c == Some(':')
            && parts.is_empty()
            && buffer.chars().count() == 1
            && buffer.chars().all(char::is_alphabetic);
        match c {
            Some(':') if drive => buffer.push(':'),
            Some(':') | None => {
                if buffer.is_empty() {
                    return Err(invalid("empty section between colons"));
                }
                parts.push(std::mem::take(&mut buffer));
            }
            Some(ch) => buffer.push(ch),
        }
    }
    match parts.len() {
        1 => Ok((None, parts.remove(0), String::new())),
        2 => {
            let target = parts.remove(1);
            Ok((Some(parts.remove(0)), target, String::new()))
        }
        3 => {
            let mode = parts.remove(2);
            let target = parts.remove(1);
            Ok((Some(parts.remove(0)), target, mode))
        }
        _ => Err(invalid("too many colons")),
    }
}

/// The CLI's `-v` values split as the docker CLI splits them: anything with a source (a host
/// path or a named volume) goes to `HostConfig.Binds`, a bare path is an anonymous volume for
/// `Config.Volumes`. Relative host paths starting with `.` are made absolute.
pub fn cli_volumes(specs: &[String]) -> Result<(Vec<String>, Vec<String>), VolumeError> {
    let mut binds = Vec::new();
    let mut anonymous = Vec::new();
    for spec in specs {
        let (source, target, mode) = match spec.chars().count() {
            // Too short for a source: docker takes it as an anonymous volume whatever it is.
            1 | 2 => (None, spec.clone(), String::new()),
            _ => split_volume_spec(spec, true)?,
        };
        match source {
            None => {
                if !anonymous.contains(spec) {
                    anonymous.push(spec.clone());
                }
            }
            Some(source) => {
                let mut bind = spec.clone();
                if source.starts_with('.') {
                    if let Ok(abs) = std::path::absolute(&source) {
                        bind = [abs.display().to_string(), target]
                            .into_iter()
                            .chain((!mode.is_empty()).then_some(mode))
                            .collect::<Vec<_>>()
                            .join(":");
                    }
                }
                if !binds.contains(&bind) {
                    binds.push(bind);
                }
            }
        }
    }
    Ok((binds, anonymous))
}

/// `--tmpfs /path[:options]` as the CLI sends it: `HostConfig.Tmpfs`.
pub fn cli_tmpfs(specs: &[String]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect()
}

/// One `HostConfig.Binds` entry: `source:target[:mode]`, the source a host path or a volume
/// name. Modes: `ro`/`rw`, SELinux `z`/`Z` (no SELinux here: taken, as dockerd takes them
/// on a host without it), `nocopy`, propagation, `U` (the volume goes to the container's
/// user).
pub fn parse_bind(spec: &str) -> Result<MountRequest, VolumeError> {
    let invalid = |why: String| {
        VolumeError::Invalid(format!("invalid volume specification: '{spec}': {why}"))
    };
    let (source, target, mode) =
        split_volume_spec(spec, false).map_err(|e| invalid(e.to_string()))?;
    let Some(source) = source else {
        return Err(invalid("invalid mount config: source is required".into()));
    };
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let mut m = MountRequest::new(kind, &source, &target);
    m.mode = mode.clone();
    m.create_source = true;
    let mut rw_given = false;
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" | "rw" if rw_given => return Err(invalid(format!("invalid mode: {mode}"))),
            "ro" => {
                m.read_only = true;
                rw_given = true;
            }
            "rw" => rw_given = true,
            "z" | "Z" => {}
            "nocopy" if kind == MountKind::Volume => m.no_copy = true,
            // Handing a host directory to the container's user would change the host's own
            // files: volumes only.
            "U" if kind == MountKind::Volume => m.chown = true,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                if kind == MountKind::Bind =>
            {
                m.propagation = opt.to_string()
            }
            _ => return Err(invalid(format!("invalid mode: {mode}"))),
        }
    }
    if kind == MountKind::Volume {
        check_volume_name(&source).map_err(|e| VolumeError::Invalid(e.to_string()))?;
    }
    check_target(&target, kind).map_err(|e| invalid(e.to_string()))?;
    Ok(m)
}

/// A `HostConfig.Mounts` entry as the API sends it (moby's `mount.Mount`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ApiMount {
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub consistency: String,
    #[serde(default)]
    pub bind_options: Option<BindOptions>,
    #[serde(default)]
    pub volume_options: Option<VolumeOptions>,
    #[serde(default)]
    pub tmpfs_options: Option<TmpfsOptions>,
    #[serde(default)]
    pub image_options: Option<serde_json::Value>,
    #[serde(default)]
    pub cluster_options: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default)]
    pub propagation: String,
    #[serde(default)]
    pub non_recursive: bool,
    #[serde(default)]
    pub create_mountpoint: bool,
    #[serde(default)]
    pub read_only_non_recursive: bool,
    #[serde(default)]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default)]
    pub no_copy: bool,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub subpath: String,
    #[serde(default)]
    pub driver_config: Option<DriverConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DriverConfig {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default)]
    pub size_bytes: i64,
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub options: Option<Vec<Vec<String>>>,
}

/// One `HostConfig.Mounts` entry, checked as dockerd checks it (`invalid mount config for
/// type "bind": …`).
pub fn parse_mount(v: &serde_json::Value) -> Result<MountRequest, VolumeError> {
    let api: ApiMount = serde_json::from_value(v.clone())
        .map_err(|e| VolumeError::Invalid(format!("invalid mount config: {e}")))?;
    let invalid = |why: &str| {
        VolumeError::Invalid(format!(
            "invalid mount config for type \"{}\": {why}",
            api.kind
        ))
    };
    let kind = match api.kind.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        "" => {
            return Err(VolumeError::Invalid(
                "invalid mount config: type is required".into(),
            ))
        }
        other => {
            return Err(VolumeError::Invalid(format!(
                "mount type {other:?} is not supported yet by berth"
            )))
        }
    };
    if api.image_options.is_some() || api.cluster_options.is_some() {
        return Err(invalid(
            "ImageOptions and ClusterOptions are not supported yet by berth",
        ));
    }
    let mut m = MountRequest::new(kind, &api.source, &api.target);
    m.read_only = api.read_only;
    m.mode = String::new();
    if api.target.is_empty() {
        return Err(invalid("field Target must not be empty"));
    }
    check_target(&api.target, kind).map_err(|e| invalid(&e.to_string()))?;
    let wrong = |opts: &str| invalid(&format!("field {opts} must not be specified"));
    match kind {
        MountKind::Bind => {
            if api.volume_options.is_some() {
                return Err(wrong("VolumeOptions"));
            }
            if api.tmpfs_options.is_some() {
                return Err(wrong("TmpfsOptions"));
            }
            if api.source.is_empty() {
                return Err(invalid("field Source must not be empty"));
            }
            if !api.source.starts_with('/') {
                return Err(invalid(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    api.source
                )));
            }
            if let Some(b) = api.bind_options {
                match b.propagation.as_str() {
                    "" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {}
                    p => return Err(invalid(&format!("invalid propagation mode: {p}"))),
                }
                m.propagation = b.propagation;
                m.non_recursive = b.non_recursive;
                m.create_source = b.create_mountpoint;
                if b.read_only_non_recursive || b.read_only_force_recursive {
                    return Err(invalid(
                        "bind-recursive=writable|readonly is not supported yet by berth",
                    ));
                }
            }
        }
        MountKind::Volume => {
            if api.bind_options.is_some() {
                return Err(wrong("BindOptions"));
            }
            if api.tmpfs_options.is_some() {
                return Err(wrong("TmpfsOptions"));
            }
            if !api.source.is_empty() {
                check_volume_name(&api.source)?;
            }
            if let Some(v) = api.volume_options {
                m.no_copy = v.no_copy;
                m.labels = v.labels.unwrap_or_default();
                if v.subpath.split('/').any(|c| c == "..") || v.subpath.starts_with('/') {
                    return Err(invalid("subpath must be a relative path within the volume"));
                }
                m.subpath = v.subpath;
                if let Some(d) = v.driver_config {
                    if !matches!(d.name.as_str(), "" | "local") {
                        return Err(VolumeError::Invalid(format!(
                            "volume driver {:?} is not supported yet by berth; local is",
                            d.name
                        )));
                    }
                    m.driver_opts = d.options.unwrap_or_default();
                }
            }
        }
        MountKind::Tmpfs => {
            if api.bind_options.is_some() {
                return Err(wrong("BindOptions"));
            }
            if api.volume_options.is_some() {
                return Err(wrong("VolumeOptions"));
            }
            if !api.source.is_empty() {
                return Err(wrong("Source"));
            }
            if let Some(t) = api.tmpfs_options {
                if t.size_bytes < 0 {
                    return Err(invalid("invalid tmpfs size"));
                }
                if t.size_bytes > 0 {
                    m.tmpfs_options.push(format!("size={}", t.size_bytes));
                }
                if t.mode != 0 {
                    m.tmpfs_options.push(format!("mode={:o}", t.mode));
                }
                for o in t.options.into_iter().flatten() {
                    m.tmpfs_options.push(o.join("="));
                }
            }
        }
    }
    Ok(m)
}

/// One `HostConfig.Tmpfs` entry: a target and comma-separated mount options.
pub fn parse_tmpfs(target: &str, options: &str) -> Result<MountRequest, VolumeError> {
    check_target(target, MountKind::Tmpfs)
        .map_err(|e| VolumeError::Invalid(format!("invalid tmpfs mount {target:?}: {e}")))?;
    let mut m = MountRequest::new(MountKind::Tmpfs, "", target);
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.read_only = true,
            "rw" => {}
            o => m.tmpfs_options.push(o.to_string()),
        }
    }
    Ok(m)
}

/// Docker's rule for local volume names.
pub fn check_volume_name(name: &str) -> Result<(), VolumeError> {
    let mut b = name.bytes();
    let ok = name.len() >= 2
        && matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::Invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// A mount target: absolute, not `/`, without `..`.
fn check_target(target: &str, kind: MountKind) -> Result<(), VolumeError> {
    let kind = kind.as_str();
    if !target.starts_with('/') {
        return Err(VolumeError::Invalid(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    if target.split('/').all(|c| c.is_empty() || c == ".") {
        return Err(VolumeError::Invalid(format!(
            "invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
        )));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(VolumeError::Invalid(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' must not contain '..'"
        )));
    }
    Ok(())
}

/// A target without redundant slashes or `.` components, as mounts are compared by it.
pub fn clean_target(target: &str) -> String {
    let parts: Vec<&str> = target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests;
