//! The client's configuration file, `config.json` in the docker CLI's format and place
//! (`$DOCKER_CONFIG`, else `~/.docker`), so `berth login` and `docker login` share credentials.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};

/// Docker Hub's key in `auths`, kept for compatibility with every docker CLI.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}

fn path() -> PathBuf {
    dir().join("config.json")
}

fn load() -> Result<Value> {
    match std::fs::read(path()) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("reading {}", path().display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("reading {}", path().display())),
    }
}

fn save(v: &Value) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir())?;
    let tmp = dir().join(".config.json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(serde_json::to_string_pretty(v)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path())?;
    Ok(())
}

/// A string setting of config.json, such as `detachKeys` or `psFormat`.
pub fn setting(key: &str) -> Option<String> {
    load()
        .ok()
        .and_then(|c| c.get(key).and_then(Value::as_str).map(str::to_string))
}

/// The `detachKeys` setting, which `--detach-keys` overrides; empty when unset.
pub fn detach_keys() -> String {
    setting("detachKeys").unwrap_or_default()
}

/// The `auths` key for a registry domain (`docker.io` is stored under Docker Hub's old URL).
pub fn key_for(domain: &str) -> String {
    if domain == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// Stored credentials for `domain`, as the `X-Registry-Auth` JSON.
pub fn credentials(domain: &str) -> Option<Value> {
    let cfg = load().ok()?;
    let key = key_for(domain);
    let entry = cfg.get("auths")?.get(&key)?;
    let auth = entry.get("auth")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let (u, p) = String::from_utf8(raw)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some(json!({"username": u, "password": p, "serveraddress": key}))
}

pub fn store(key: &str, username: &str, password: &str) -> Result<()> {
    let mut cfg = load()?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let obj = cfg
        .as_object_mut()
        .context("config.json is not a JSON object")?;
    let auths = obj.entry("auths").or_insert_with(|| json!({}));
    auths[key] = json!({"auth": auth});
    save(&cfg)
}

/// Removes credentials; `false` if there were none.
pub fn erase(key: &str) -> Result<bool> {
    let mut cfg = load()?;
    let removed = cfg
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|a| a.remove(key))
        .is_some();
    if removed {
        save(&cfg)?;
    }
    Ok(removed)
}

/// The `X-Registry-Auth` header value for `domain`: base64url JSON, `e30=` (`{}`) when anonymous.
pub fn registry_auth_header(domain: &str) -> String {
    let v = credentials(domain).unwrap_or_else(|| json!({}));
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&v).unwrap_or_default())
}

/// The `X-Registry-Config` header a build sends: base64url JSON of every stored registry's
/// credentials, so the daemon can pull private bases.
pub fn registry_config_header() -> String {
    let mut all = serde_json::Map::new();
    if let Some(auths) = load().ok().and_then(|c| c.get("auths").cloned()) {
        for key in auths.as_object().into_iter().flat_map(|m| m.keys()) {
            let domain = if key == DOCKER_HUB_KEY {
                "docker.io"
            } else {
                key.as_str()
            };
            if let Some(c) = credentials(domain) {
                all.insert(key.clone(), c);
            }
        }
    }
    base64::engine::general_purpose::URL_SAFE
        .encode(serde_json::to_vec(&Value::Object(all)).unwrap_or_default())
}
