//! What a container asks to have mounted, in the Engine API's shapes: one entry of
//! `HostConfig.Mounts` ([`Mount`]), and what berth keeps of each mount in the container's
//! record ([`MountPoint`], Docker's `MountPoints` of `config.v2.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `HostConfig.Mounts`. Unknown members are refused rather than dropped
/// (`deny_unknown_fields`): a mount option berth does not know is one it would not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// macOS's consistency modes; on Linux every mount is consistent, as in Docker.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// `type=image` (API 1.48): refused, berth does not mount images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_options: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Swarm cluster volumes: refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_options: Option<serde_json::Value>,
    /// berth's own (Podman's `U`): the mount's source is given to the container's user before
    /// it starts. Docker has no such field; `-v …:U` sets it too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub chown: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub non_recursive: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_mountpoint: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only_non_recursive: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<Driver>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Driver {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    /// `[["exec"], ["noexec"]]` (API 1.46): the only flags Docker takes here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// The kinds of mount berth makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

/// An id-mapped bind (`-v /src:/dst:idmap=uids=0-1000-1;gids=0-1000-1`): the files of the
/// source appear to the container with their owners mapped, as Podman's `idmap` option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdMap {
    /// `(container id, host id, count)` ranges.
    pub uids: Vec<(u32, u32, u32)>,
    pub gids: Vec<(u32, u32, u32)>,
}

/// One mount of a container as its record keeps it, resolved at create: which volume, which
/// host path, where, how. The start turns these into OCI mounts (see
/// [`crate::VolumeService::mount`]); inspect shows them as `Mounts`; `cp` into a path inside
/// one of them lands in `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: MountType,
    /// The volume's name; empty for binds and tmpfs.
    #[serde(default)]
    pub name: String,
    /// The host path mounted: a bind's source, a volume's `_data` directory; empty for tmpfs.
    #[serde(default)]
    pub source: String,
    pub destination: String,
    /// `local` for volumes; empty otherwise.
    #[serde(default)]
    pub driver: String,
    /// The `-v` mode string as given (`ro,z`); `z` for local volumes without one, as Docker.
    #[serde(default)]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// `rprivate` unless asked otherwise for binds; empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into the volume while it is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// The request as the API would send it: the options the start needs (non-recursive,
    /// read-only recursion, subpath, tmpfs sizes).
    #[serde(default)]
    pub spec: Mount,
    /// The options of a tmpfs, merged and checked at create (`size=65536k,mode=1777`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// From `--tmpfs` (`HostConfig.Tmpfs`): mounted, but not one of inspect's `Mounts`, as in
    /// Docker.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tmpfs_flag: bool,
    /// A `-v` bind whose missing source is made at start (`--mount` requires it to exist).
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_source: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<IdMap>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_read_as_docker_sends_them_and_unknown_members_are_refused() {
        let m: Mount = serde_json::from_str(
            r#"{"Type":"volume","Source":"data","Target":"/d","VolumeOptions":{"NoCopy":true,"DriverConfig":{"Name":"local","Options":{"type":"tmpfs"}}}}"#,
        )
        .unwrap();
        assert_eq!(m.kind, "volume");
        let v = m.volume_options.unwrap();
        assert!(v.no_copy);
        assert_eq!(v.driver_config.unwrap().options["type"], "tmpfs");
        let e = serde_json::from_str::<Mount>(r#"{"Type":"bind","Target":"/d","Bogus":1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `Bogus`"), "{e}");
        let e = serde_json::from_str::<Mount>(
            r#"{"Type":"bind","Target":"/d","BindOptions":{"Recursive":"x"}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("Recursive"), "{e}");
    }
}
