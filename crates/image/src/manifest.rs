//! Image manifests and indexes, in both Docker schema2 and OCI media types, and the choice of a
//! platform from an index.

use serde::{Deserialize, Serialize};

use crate::{media, Digest};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// An image manifest: one config and its layers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unsupported manifest media type and no default available: {0}")]
    UnsupportedMediaType(String),
    #[error("invalid manifest: {0}")]
    Invalid(String),
    #[error("invalid platform {0:?}: expected os[/arch[/variant]]")]
    BadPlatform(String),
}

/// What a registry answered for a reference.
pub enum ManifestKind {
    Image(Manifest),
    Index(Index),
}

impl ManifestKind {
    /// Parses by the declared media type, falling back on the document's own `mediaType` and
    /// shape (some registries send `application/json`).
    pub fn parse(bytes: &[u8], declared: &str) -> Result<Self, ManifestError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        let inner = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        let mt =
            if declared.is_empty() || declared == "application/json" || declared == "text/plain" {
                inner
            } else {
                declared
            };
        let is_index = match mt {
            media::DOCKER_MANIFEST_LIST | media::OCI_INDEX => true,
            media::DOCKER_MANIFEST | media::OCI_MANIFEST => false,
            "" => v.get("manifests").is_some(),
            other => {
                if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
                    return Err(ManifestError::UnsupportedMediaType(format!(
                        "{other} (schema 1 manifests are not supported)"
                    )));
                }
                return Err(ManifestError::UnsupportedMediaType(other.to_string()));
            }
        };
        if is_index {
            Ok(ManifestKind::Index(
                serde_json::from_value(v).map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ))
        } else {
            Ok(ManifestKind::Image(
                serde_json::from_value(v).map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ))
        }
    }
}

impl Platform {
    /// The platform this berth runs on, in OCI names.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
            os_version: None,
        }
    }

    /// Parses `os[/arch[/variant]]` as `--platform` takes it, normalising aliases like dockerd.
    pub fn parse(s: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(ManifestError::BadPlatform(s.into()));
        }
        let host = Platform::host();
        let os = parts[0].to_ascii_lowercase();
        let (arch, mut variant) = match parts.get(1).map(|a| a.to_ascii_lowercase()) {
            None => (host.architecture.clone(), host.variant.clone()),
            Some(a) => match a.as_str() {
                "x86_64" | "x86-64" => ("amd64".to_string(), None),
                "aarch64" => ("arm64".to_string(), None),
                "armhf" => ("arm".to_string(), Some("v7".to_string())),
                "armel" => ("arm".to_string(), Some("v6".to_string())),
                "i386" => ("386".to_string(), None),
                _ => (a, None),
            },
        };
        if let Some(v) = parts.get(2) {
            variant = Some(v.to_ascii_lowercase());
        }
        if arch == "arm64" && variant.is_none() {
            variant = Some("v8".into());
        }
        Ok(Platform {
            architecture: arch,
            os,
            variant,
            os_version: None,
        })
    }

    /// Whether an index entry's platform satisfies this one. A missing variant on arm64 means v8.
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none()
                || norm(self) == norm(other)
                || (other.variant.is_none() && self.architecture != "arm"))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Index {
    /// The manifest for `want`, or Docker's error when the index has none.
    pub fn select(&self, want: &Platform) -> Result<&Descriptor, String> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
            .ok_or_else(|| format!("no matching manifest for {want} in the manifest list entries"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        let d = |arch: &str, variant: Option<&str>, c: u8| Descriptor {
            media_type: media::DOCKER_MANIFEST.into(),
            digest: Digest::of(&[c]),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
                os_version: None,
            }),
            annotations: None,
        };
        Index {
            schema_version: 2,
            media_type: media::OCI_INDEX.into(),
            manifests: vec![d("amd64", None, 1), d("arm64", Some("v8"), 2)],
        }
    }

    #[test]
    fn selects_platforms_from_an_index() {
        let idx = index();
        assert_eq!(
            idx.select(&Platform::parse("linux/amd64").unwrap())
                .unwrap()
                .digest,
            Digest::of(&[1])
        );
        assert_eq!(
            idx.select(&Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .digest,
            Digest::of(&[2])
        );
        assert_eq!(
            idx.select(&Platform::parse("linux/aarch64/v8").unwrap())
                .unwrap()
                .digest,
            Digest::of(&[2])
        );
        assert_eq!(
            idx.select(&Platform::parse("linux/s390x").unwrap())
                .unwrap_err(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert!(Platform::parse("linux//x").is_err());
    }

    #[test]
    fn parses_both_media_type_families() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(
            ManifestKind::parse(m, "application/vnd.oci.image.manifest.v1+json"),
            Ok(ManifestKind::Image(_))
        ));
        assert!(matches!(
            ManifestKind::parse(m, ""),
            Ok(ManifestKind::Image(_))
        ));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            ManifestKind::parse(i, media::DOCKER_MANIFEST_LIST),
            Ok(ManifestKind::Index(_))
        ));
        assert!(ManifestKind::parse(b"{}", "application/x-foo").is_err());
    }
}
