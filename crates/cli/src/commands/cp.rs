//! `cp`: files between a container and here, with the docker CLI's rules for where they land
//! (into an existing directory under their own name, or as the destination's name).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;

use crate::client::{empty, full, q, Client, ClientError};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    #[arg(value_name = "SRC")]
    src: String,
    #[arg(value_name = "DEST")]
    dest: String,
}

#[derive(Debug, Deserialize)]
struct PathStat {
    name: String,
    mode: u32,
    #[serde(rename = "linkTarget", default)]
    link_target: String,
}

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }
    fn is_symlink(&self) -> bool {
        self.mode & (1 << 27) != 0
    }
}

/// `CONTAINER:PATH`, or a local path (which may itself hold a colon after a slash).
fn split_container(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

pub async fn cp(client: &Client, a: CpArgs) -> anyhow::Result<u8> {
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some(_), Some(_)) => {
            anyhow::bail!("copying between containers is not supported")
        }
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some((c, p)), None) => from_container(client, &a, c, p).await,
        (None, Some((c, p))) => to_container(client, &a, c, p).await,
    }
}

fn decode_stat(resp: &hyper::Response<hyper::body::Incoming>) -> anyhow::Result<PathStat> {
    let h = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .ok_or_else(|| anyhow::anyhow!("the daemon sent no path stat"))?;
    let json = base64::engine::general_purpose::STANDARD.decode(h.as_bytes())?;
    Ok(serde_json::from_slice(&json)?)
}

async fn stat(
    client: &Client,
    container: &str,
    path: &str,
) -> Result<Option<PathStat>, anyhow::Error> {
    let url = format!("/containers/{container}/archive?path={}", q(path));
    match client.request(Method::HEAD, &url, empty(), &[]).await {
        Ok(resp) => Ok(Some(decode_stat(&resp)?)),
        Err(ClientError::Daemon { status, .. }) if status == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn from_container(
    client: &Client,
    a: &CpArgs,
    container: &str,
    path: &str,
) -> anyhow::Result<u8> {
    let mut path = path.to_string();
    if a.follow_link {
        if let Some(s) = stat(client, container, &path).await? {
            if s.is_symlink() && !s.link_target.is_empty() {
                path = s.link_target;
            }
        }
    }
    let url = format!("/containers/{container}/archive?path={}", q(&path));
    let resp = client.request(Method::GET, &url, empty(), &[]).await?;
    let st = decode_stat(&resp)?;
    let tar = resp.into_body().collect().await?.to_bytes();
    if a.dest == "-" {
        std::io::stdout().lock().write_all(&tar)?;
        return Ok(0);
    }
    let dest = PathBuf::from(&a.dest);
    // Into an existing directory under its own name; otherwise as the destination's name.
    let (dir, rename) = if dest.is_dir() {
        (dest.clone(), None)
    } else {
        if dest.exists() && st.is_dir() {
            anyhow::bail!("cannot copy a directory to a file");
        }
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            anyhow::bail!("destination directory {} does not exist", parent.display());
        }
        let name = dest
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("invalid destination {}", a.dest))?;
        (parent.to_path_buf(), Some(name.to_os_string()))
    };
    unpack(&tar, &dir, &st.name, rename.as_deref())?;
    if !a.quiet {
        eprintln!("Successfully copied {} to {}", size(tar.len()), a.dest);
    }
    Ok(0)
}

/// Unpacks the container's tar into `dir`, its top entry (`top`) renamed as asked.
fn unpack(
    tar: &[u8],
    dir: &Path,
    top: &str,
    rename: Option<&std::ffi::OsStr>,
) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        let first = parts.next();
        let rest: PathBuf = parts.collect();
        let target = match (rename, first) {
            (Some(new), Some(f)) if f.as_os_str() == top && rest.as_os_str().is_empty() => {
                PathBuf::from(new)
            }
            (Some(new), Some(f)) if f.as_os_str() == top => Path::new(new).join(rest),
            _ => path.clone(),
        };
        let target_rel = target.strip_prefix("/").unwrap_or(&target).to_path_buf();
        if target_rel.as_os_str().is_empty() {
            continue;
        }
        if target_rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            anyhow::bail!(
                "refusing to write {} outside {}",
                path.display(),
                dir.display()
            );
        }
        let full_path = dir.join(&target_rel);
        if let Some(p) = full_path.parent() {
            std::fs::create_dir_all(p)?;
        }
        if entry.header().entry_type().is_dir() && full_path.is_dir() {
            continue;
        }
        if !entry.header().entry_type().is_dir() && full_path.symlink_metadata().is_ok() {
            std::fs::remove_file(&full_path)?;
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry.unpack(&full_path)?;
    }
    Ok(())
}

async fn to_container(
    client: &Client,
    a: &CpArgs,
    container: &str,
    path: &str,
) -> anyhow::Result<u8> {
    let (tar, target_dir) = if a.src == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        (buf, path.to_string())
    } else {
        let src = PathBuf::from(&a.src);
        let meta = if a.follow_link {
            std::fs::metadata(&src)
        } else {
            std::fs::symlink_metadata(&src)
        }
        .map_err(|_| anyhow::anyhow!("lstat {}: no such file or directory", a.src))?;
        let dest = stat(client, container, path).await?;
        let (dir, name) = match &dest {
            Some(d) if d.is_dir() => (
                path.to_string(),
                src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| ".".into()),
            ),
            Some(_) if meta.is_dir() => {
                anyhow::bail!("cannot copy a directory to a file")
            }
            _ => {
                let trimmed = path.trim_end_matches('/');
                let (d, n) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
                (
                    if d.is_empty() {
                        "/".to_string()
                    } else {
                        d.to_string()
                    },
                    n.to_string(),
                )
            }
        };
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(a.follow_link);
        if meta.is_dir() {
            b.append_dir_all(&name, &src)?;
        } else {
            b.append_path_with_name(&src, &name)?;
        }
        (b.into_inner()?, dir)
    };
    let mut url = format!(
        "/containers/{container}/archive?noOverwriteDirNonDir=true&path={}",
        q(&target_dir)
    );
    if a.archive {
        url.push_str("&copyUIDGID=true");
    }
    let len = tar.len();
    let headers = [("Content-Type", "application/x-tar".to_string())];
    client
        .request(Method::PUT, &url, full(tar), &headers)
        .await?
        .into_body()
        .collect()
        .await?;
    if !a.quiet && a.src != "-" {
        eprintln!(
            "Successfully copied {} to {}:{}",
            size(len),
            container,
            path
        );
    }
    Ok(0)
}

/// Sizes as the docker CLI's `units.HumanSize` writes them.
fn size(n: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!(
        "{}{}",
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.'),
        units[i]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_and_sizes() {
        assert_eq!(split_container("box:/etc"), Some(("box", "/etc")));
        assert_eq!(split_container("/tmp/a:b"), None);
        assert_eq!(split_container("./a:b"), None);
        assert_eq!(size(2048), "2.048kB");
        assert_eq!(size(5), "5B");
    }
}
