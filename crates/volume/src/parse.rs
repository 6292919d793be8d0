//! berthd's half of the parser: `HostConfig.Binds` strings, `HostConfig.Mounts` entries,
//! `HostConfig.Tmpfs`, `Config.Volumes` and `--volumes-from` specs into [`MountPoint`]s, with
//! moby's rules and words (`daemon/volume/mounts/linux_parser.go`), so that a spec dockerd
//! takes berth takes, and one it refuses berth refuses the same way.
//!
//! berth adds two modes Docker lacks (as Podman has them): `U` gives the source to the
//! container's user, and `idmap=uids=…;gids=…` makes an id-mapped bind.

use crate::error::{Result, VolumeError};
use crate::mount::{BindOptions, IdMap, Mount, MountPoint, MountType, TmpfsOptions, VolumeOptions};

/// The one volume driver berth has.
pub const LOCAL_DRIVER: &str = "local";

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];
const DEFAULT_PROPAGATION: &str = "rprivate";
const CONSISTENCIES: &[&str] = &["consistent", "cached", "delegated"];

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn invalid_mode(mode: &str) -> VolumeError {
    VolumeError::invalid(format!("invalid mode: {mode}"))
}

/// moby's `errMountConfig`.
fn mount_config(kind: &str, e: impl std::fmt::Display) -> VolumeError {
    VolumeError::invalid(format!("invalid mount config for type \"{kind}\": {e}"))
}

/// What one `-v` mode string says, once checked.
#[derive(Debug, Default, PartialEq)]
struct Mode {
    read_only: bool,
    propagation: Option<String>,
    no_copy: bool,
    chown: bool,
    idmap: Option<IdMap>,
}

/// moby's `linuxValidMountMode`, plus berth's `U` and `idmap`: each kind at most once.
fn parse_mode(mode: &str) -> Option<Mode> {
    let mut m = Mode::default();
    if mode.is_empty() {
        return Some(m);
    }
    let mut counts = [0u8; 7];
    for o in mode.split(',') {
        let kind = match o {
            "rw" => 0,
            "ro" => {
                m.read_only = true;
                0
            }
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => {
                m.propagation = Some(p.to_string());
                2
            }
            "nocopy" => {
                m.no_copy = true;
                3
            }
            c if CONSISTENCIES.contains(&c) => 4,
            "U" => {
                m.chown = true;
                5
            }
            o if o == "idmap" || o.starts_with("idmap=") => {
                m.idmap = Some(parse_idmap(o.strip_prefix("idmap=").unwrap_or(""))?);
                6
            }
            _ => return None,
        };
        counts[kind] += 1;
    }
    counts.iter().all(|c| *c <= 1).then_some(m)
}

/// `uids=0-1000-10#10-2000-5;gids=0-1000-10`: for each range, files owned by the first id on
/// disk appear with the second inside the container (Podman's `idmap` syntax). Both maps are
/// needed: berth gives the container no user namespace whose mapping could stand in.
fn parse_idmap(s: &str) -> Option<IdMap> {
    let mut map = IdMap {
        uids: Vec::new(),
        gids: Vec::new(),
    };
    for part in s.split(';') {
        let (which, ranges) = part.split_once('=')?;
        let target = match which {
            "uids" => &mut map.uids,
            "gids" => &mut map.gids,
            _ => return None,
        };
        for r in ranges.split('#') {
            let mut n = r.split('-').map(|x| x.parse::<u32>().ok());
            let (a, b, c) = (n.next()??, n.next()??, n.next()??);
            if n.next().is_some() || c == 0 {
                return None;
            }
            target.push((a, b, c));
        }
    }
    (!map.uids.is_empty() && !map.gids.is_empty()).then_some(map)
}

/// Go's `path.Clean` for absolute and relative slash paths.
pub fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A mount target (or tmpfs destination) must be absolute and not `/`.
pub fn check_target(target: &str) -> Result<()> {
    let t = target.replace('\\', "/");
    if clean_path(&t) == "/" {
        return Err(VolumeError::invalid(
            "invalid specification: destination can't be '/'",
        ));
    }
    if !t.starts_with('/') {
        return Err(VolumeError::invalid(format!(
            "invalid mount path: '{t}' mount path must be absolute"
        )));
    }
    Ok(())
}

/// Go's `filepath.IsLocal`: relative, not empty, never climbing out.
fn is_local(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !clean_path(p).starts_with("..")
}

/// One `HostConfig.Binds` string (`src:dst[:mode]`, or `dst` alone for an anonymous volume),
/// as dockerd's `ParseMountRaw` reads it. A missing bind source is made at start, as `-v`
/// does; `volume_driver` is `HostConfig.VolumeDriver`.
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = raw.splitn(4, ':').collect();
    if parts[0].is_empty() {
        return Err(VolumeError::invalid(invalid_spec(raw)));
    }
    let (source, target, mode) = match parts[..] {
        [t] => ("", t, ""),
        [s, t] => {
            // `/foo:rw` names no destination: a volume cannot carry a mode alone.
            if parse_mode(t).is_some() {
                return Err(VolumeError::invalid(invalid_spec(raw)));
            }
            (s, t, "")
        }
        [s, t, m] => (s, t, m),
        _ => return Err(VolumeError::invalid(invalid_spec(raw))),
    };
    let parsed = parse_mode(mode).ok_or_else(|| invalid_mode(mode))?;
    // `U` changes the owner of what is mounted: a volume's data is berth's to give, a host
    // directory's files are not.
    if parsed.chown && source.starts_with('/') {
        return Err(invalid_mode(mode));
    }
    let mut spec = Mount {
        kind: if source.starts_with('/') {
            "bind".into()
        } else {
            "volume".into()
        },
        source: source.into(),
        target: target.into(),
        read_only: parsed.read_only,
        chown: parsed.chown,
        ..Default::default()
    };
    if spec.kind == "volume" && (!volume_driver.is_empty() || parsed.no_copy) {
        spec.volume_options = Some(VolumeOptions {
            no_copy: parsed.no_copy,
            driver_config: (!volume_driver.is_empty()).then(|| crate::mount::Driver {
                name: volume_driver.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
    } else if parsed.no_copy {
        // moby keeps NoCopy on a bind too, and then refuses it as a volume option.
        spec.volume_options = Some(VolumeOptions {
            no_copy: true,
            ..Default::default()
        });
    }
    if let Some(p) = &parsed.propagation {
        spec.bind_options = Some(BindOptions {
            propagation: p.clone(),
            ..Default::default()
        });
    }
    let wrap = |e: VolumeError| match e {
        VolumeError::Invalid(m) => VolumeError::Invalid(format!("{}: {m}", invalid_spec(raw))),
        e => e,
    };
    let mut mp = parse_spec(spec, false).map_err(wrap)?;
    mp.mode = mode.to_string();
    mp.create_source = mp.kind == MountType::Bind;
    if parsed.idmap.is_some() && mp.kind == MountType::Volume && mp.name.is_empty() {
        return Err(wrap(VolumeError::invalid(
            "idmap needs a bind or a named volume",
        )));
    }
    mp.idmap = parsed.idmap;
    Ok(mp)
}

/// One `HostConfig.Mounts` entry, as dockerd's `ParseMountSpec`: a bind's source must exist
/// unless `CreateMountpoint` says to make it.
pub fn parse_mount(m: &Mount) -> Result<MountPoint> {
    let mut mp = parse_spec(m.clone(), true)?;
    mp.create_source =
        mp.kind == MountType::Bind && m.bind_options.as_ref().is_some_and(|b| b.create_mountpoint);
    Ok(mp)
}

fn parse_spec(spec: Mount, bind_source_must_exist: bool) -> Result<MountPoint> {
    let kind = spec.kind.clone();
    let err = |e: &str| mount_config(&kind, e);
    // Exclusive options first, as moby checks them.
    for (set, field, owner) in [
        (spec.bind_options.is_some(), "BindOptions", "bind"),
        (spec.volume_options.is_some(), "VolumeOptions", "volume"),
        (spec.image_options.is_some(), "ImageOptions", "image"),
        (spec.tmpfs_options.is_some(), "TmpfsOptions", "tmpfs"),
        (spec.cluster_options.is_some(), "ClusterOptions", "cluster"),
    ] {
        if set && kind != owner {
            return Err(err(&format!("field {field} must not be specified")));
        }
    }
    if spec.chown && kind != "volume" {
        return Err(err("chown is for volumes only"));
    }
    if spec.target.is_empty() {
        return Err(err("field Target must not be empty"));
    }
    check_target(&spec.target).map_err(|e| err(&e.to_string()))?;
    if !spec.consistency.is_empty()
        && spec.consistency != "default"
        && !CONSISTENCIES.contains(&spec.consistency.as_str())
    {
        return Err(err(&format!(
            "invalid consistency mode: {}",
            spec.consistency
        )));
    }
    let destination = clean_path(&spec.target);
    let kind_enum = match kind.as_str() {
        "bind" => {
            if spec.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            let b = spec.bind_options.clone().unwrap_or_default();
            if !b.propagation.is_empty() && !PROPAGATIONS.contains(&b.propagation.as_str()) {
                return Err(err(&format!("invalid propagation mode: {}", b.propagation)));
            }
            if !spec.source.starts_with('/') {
                return Err(err(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    spec.source
                )));
            }
            if !spec.read_only && (b.read_only_non_recursive || b.read_only_force_recursive) {
                return Err(VolumeError::invalid(
                    "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive",
                ));
            }
            if b.read_only_non_recursive && b.read_only_force_recursive {
                return Err(VolumeError::invalid(
                    "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive",
                ));
            }
            if bind_source_must_exist
                && !b.create_mountpoint
                && std::fs::symlink_metadata(&spec.source).is_err()
            {
                return Err(err(&format!(
                    "bind source path does not exist: {}",
                    spec.source
                )));
            }
            MountType::Bind
        }
        "volume" => {
            let v = spec.volume_options.clone().unwrap_or_default();
            if !v.subpath.is_empty() {
                if spec.source.is_empty() {
                    return Err(err("must not set Subpath when using anonymous volumes"));
                }
                if !is_local(&v.subpath) {
                    return Err(err("subpath must be a relative path within the volume"));
                }
            }
            let driver = v.driver_config.as_ref().map_or("", |d| d.name.as_str());
            check_driver(driver)?;
            MountType::Volume
        }
        "tmpfs" => {
            if !spec.source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            tmpfs_data(spec.tmpfs_options.as_ref(), spec.read_only).map_err(|e| err(&e))?;
            MountType::Tmpfs
        }
        "image" | "npipe" | "cluster" => {
            return Err(VolumeError::Unsupported(format!(
                "mount type \"{kind}\" is not supported yet by berth"
            )))
        }
        _ => return Err(err("mount type unknown")),
    };
    let mut mp = MountPoint {
        kind: kind_enum,
        name: String::new(),
        source: String::new(),
        destination,
        driver: String::new(),
        mode: String::new(),
        rw: !spec.read_only,
        propagation: String::new(),
        copy_data: false,
        spec: Mount::default(),
        data: String::new(),
        tmpfs_flag: false,
        create_source: false,
        idmap: None,
    };
    match kind_enum {
        MountType::Volume => {
            mp.name = spec.source.clone();
            mp.driver = LOCAL_DRIVER.into();
            mp.copy_data = !spec.volume_options.as_ref().is_some_and(|v| v.no_copy);
        }
        MountType::Bind => {
            mp.source = clean_path(&spec.source);
            mp.propagation = spec
                .bind_options
                .as_ref()
                .map(|b| b.propagation.clone())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_PROPAGATION.into());
        }
        MountType::Tmpfs => {
            let opts =
                tmpfs_data(spec.tmpfs_options.as_ref(), spec.read_only).map_err(|e| err(&e))?;
            mp.data = merge_tmpfs_data(&opts)?;
        }
    }
    mp.spec = spec;
    Ok(mp)
}

/// Volume drivers other than `local` are plugins, which berth does not have.
pub fn check_driver(driver: &str) -> Result<()> {
    if driver.is_empty() || driver == LOCAL_DRIVER {
        Ok(())
    } else {
        Err(VolumeError::Unsupported(format!(
            "volume driver \"{driver}\" is not supported yet by berth; only \"local\" is"
        )))
    }
}

/// moby's `ConvertTmpfsOptions`: a `--mount type=tmpfs`'s options as a tmpfs data string.
fn tmpfs_data(opt: Option<&TmpfsOptions>, read_only: bool) -> std::result::Result<String, String> {
    let mut raw = Vec::new();
    if read_only {
        raw.push("ro".to_string());
    }
    if let Some(o) = opt {
        if o.mode != 0 {
            raw.push(format!("mode={:o}", o.mode));
        }
        if o.size_bytes < 0 {
            return Err(format!("invalid tmpfs size: {}", o.size_bytes));
        }
        if o.size_bytes != 0 {
            let (mut size, mut suffix) = (o.size_bytes, "");
            for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if size % d == 0 {
                    size /= d;
                    suffix = s;
                    break;
                }
            }
            raw.push(format!("size={size}{suffix}"));
        }
        for flag in &o.options {
            match flag.as_slice() {
                [f] if f == "exec" || f == "noexec" => raw.push(f.clone()),
                [f, v] if f == "exec" || f == "noexec" => raw.push(format!("{f}={v}")),
                [f, ..] if f != "exec" && f != "noexec" => {
                    return Err(format!("invalid option: {f}"))
                }
                _ => return Err("invalid option array length".into()),
            }
        }
    }
    Ok(raw.join(","))
}

/// The mount flags a tmpfs data string may carry (moby/sys/mount's table); the flag's bit, so
/// that the last of `exec`/`noexec` wins, and propagations count as one.
fn tmpfs_flag_key(o: &str) -> Option<i32> {
    Some(match o {
        "ro" | "rw" => 1,
        "suid" | "nosuid" => 2,
        "dev" | "nodev" => 4,
        "exec" | "noexec" => 8,
        "sync" | "async" => 16,
        "dirsync" => 128,
        "remount" => 32,
        "mand" | "nomand" => 64,
        "atime" | "noatime" => 1024,
        "diratime" | "nodiratime" => 2048,
        "relatime" | "norelatime" => 1 << 21,
        "strictatime" | "nostrictatime" => 1 << 24,
        "bind" | "rbind" | "unbindable" | "runbindable" | "private" | "rprivate" | "shared"
        | "rshared" | "slave" | "rslave" => -1,
        _ => return None,
    })
}

/// moby/sys/mount's `MergeTmpfsOptions` over Docker's defaults for a tmpfs (`noexec`,
/// `nosuid`, `nodev`, `rprivate`) and `data`: the later of two options for the same flag or
/// key wins; anything that is neither a mount flag nor a tmpfs key is refused.
pub fn merge_tmpfs_data(data: &str) -> Result<String> {
    let mut options: Vec<&str> = vec!["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION];
    options.extend(data.split(',').filter(|o| !o.is_empty()));
    let mut flags_seen = std::collections::HashSet::new();
    let mut keys_seen = std::collections::HashSet::new();
    let mut out: Vec<&str> = Vec::new();
    for o in options.iter().rev() {
        if *o == "defaults" {
            continue;
        }
        if let Some(key) = tmpfs_flag_key(o) {
            if flags_seen.insert(key) {
                out.insert(0, o);
            }
            continue;
        }
        let (k, _) = o.split_once('=').unwrap_or((o, ""));
        let known = matches!(
            k,
            "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "mpol"
        );
        if !o.contains('=') || !known {
            return Err(VolumeError::invalid(format!("invalid tmpfs option {k:?}")));
        }
        if keys_seen.insert(k) {
            out.insert(0, o);
        }
    }
    Ok(out.join(","))
}

/// One `HostConfig.Tmpfs` entry (`--tmpfs /run:size=64m`).
pub fn parse_tmpfs(destination: &str, data: &str) -> Result<MountPoint> {
    check_target(destination)?;
    let merged = merge_tmpfs_data(data)?;
    let rw = !merged.split(',').any(|o| o == "ro");
    Ok(MountPoint {
        kind: MountType::Tmpfs,
        name: String::new(),
        source: String::new(),
        destination: clean_path(destination),
        driver: String::new(),
        mode: String::new(),
        rw,
        propagation: String::new(),
        copy_data: false,
        spec: Mount {
            kind: "tmpfs".into(),
            target: destination.into(),
            ..Default::default()
        },
        data: merged,
        tmpfs_flag: true,
        create_source: false,
        idmap: None,
    })
}

/// One `Config.Volumes` key (the image's `VOLUME`s and `-v /path`): an anonymous volume.
pub fn parse_anonymous(destination: &str) -> Result<MountPoint> {
    check_target(destination)?;
    Ok(MountPoint {
        kind: MountType::Volume,
        name: String::new(),
        source: String::new(),
        destination: clean_path(destination),
        driver: LOCAL_DRIVER.into(),
        mode: String::new(),
        rw: true,
        propagation: String::new(),
        copy_data: true,
        spec: Mount::default(),
        data: String::new(),
        tmpfs_flag: false,
        create_source: false,
        idmap: None,
    })
}

/// One `HostConfig.VolumesFrom` entry: `container[:ro|rw]` (moby's `ParseVolumesFrom`).
/// Returns the container and whether its mounts stay writable.
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(VolumeError::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), true));
    }
    let parsed = parse_mode(mode).ok_or_else(|| invalid_mode(mode))?;
    // Propagation, copy and berth's own modes belong to the original mounts.
    if parsed.propagation.is_some() || parsed.no_copy || parsed.chown || parsed.idmap.is_some() {
        return Err(invalid_mode(mode));
    }
    Ok((id.to_string(), !parsed.read_only))
}

#[cfg(test)]
mod tests;
