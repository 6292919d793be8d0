//! The client's half: `-v`, `--mount` and `--tmpfs` values as the docker CLI turns them into
//! `HostConfig.Binds`, `Config.Volumes`, `HostConfig.Mounts` and `HostConfig.Tmpfs`, so that
//! berth's CLI sends what the docker CLI sends. berthd reads those fields with
//! [`crate::parse`]; both halves live here so that they cannot drift apart.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::units::ram_in_bytes;

/// `-v` values split as the docker CLI splits them: anything with a source (a host path or a
/// named volume) is a bind string for `HostConfig.Binds`; a bare path is an anonymous volume
/// for `Config.Volumes`. Relative host paths starting with `.` are made absolute.
pub fn volumes(specs: &[String]) -> Result<(Vec<String>, BTreeMap<String, ()>), String> {
    let mut binds = Vec::new();
    let mut anonymous = BTreeMap::new();
    for spec in specs {
        match volume_source(spec)? {
            None => {
                anonymous.insert(spec.clone(), ());
            }
            Some(source) => {
                let mut bind = spec.clone();
                if source.starts_with('.') {
                    if let Some((host, target)) = spec.split_once(':') {
                        if let Ok(abs) = std::path::absolute(host) {
                            bind = format!("{}:{target}", abs.display());
                        }
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

/// The source part of a volume spec (`src:dst[:opts]`), `None` for an anonymous volume, split
/// as docker's `volumespec.Parse` splits it (a one-letter first field followed by `:` counts as
/// a Windows drive).
fn volume_source(spec: &str) -> Result<Option<String>, String> {
    match spec.chars().count() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => return Ok(None),
        _ => {}
    }
    let (mut source, mut target): (Option<String>, Option<String>) = (None, None);
    let mut buffer = String::new();
    let chars: Vec<Option<char>> = spec.chars().map(Some).chain([None]).collect();
    for c in chars {
        let drive = c == Some(':')
            && buffer.chars().count() == 1
            && buffer.chars().all(char::is_alphabetic);
        if drive {
            buffer.push(':');
        } else if c == Some(':') || c.is_none() {
            let err = |e: &str| format!("invalid spec: {spec}: {e}");
            if buffer.is_empty() {
                return Err(err("empty section between colons"));
            }
            if source.is_none() && c.is_none() {
                target = Some(std::mem::take(&mut buffer));
            } else if source.is_none() {
                source = Some(std::mem::take(&mut buffer));
            } else if target.is_none() {
                target = Some(std::mem::take(&mut buffer));
            } else if c == Some(':') {
                return Err(err("too many colons"));
            }
            buffer.clear();
        } else if let Some(ch) = c {
            buffer.push(ch);
        }
    }
    Ok(source)
}

/// `--tmpfs /path[:options]` → `HostConfig.Tmpfs`.
pub fn tmpfs(specs: &[String]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect()
}

/// `--mount type=…,source=…,target=…[,readonly][,…]` → one `HostConfig.Mounts` entry, with the
/// Go field order and omitted empty fields.
pub fn mount(value: &str) -> Result<Value, String> {
    let fields = csv_fields(value)?;
    let mut typ = "volume".to_string();
    let (mut source, mut target, mut consistency) = (String::new(), String::new(), String::new());
    let mut read_only = false;
    let mut chown = false;
    let (mut bind, mut volume, mut tmpfs) = (Map::new(), Map::new(), Map::new());
    let (mut has_bind, mut has_volume, mut has_tmpfs, mut has_image) = (false, false, false, false);
    let mut image = Map::new();
    let mut labels = Map::new();
    let mut driver = Map::new();
    let mut driver_opts = Map::new();
    let bool_val = |k: &str, v: &str| -> Result<bool, String> {
        match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(format!("invalid value for {k}: {v}")),
        }
    };
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            match field.to_lowercase().as_str() {
                "readonly" | "ro" => read_only = true,
                "chown" => chown = true,
                "volume-nocopy" => {
                    has_volume = true;
                    volume.insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    has_bind = true;
                    bind.insert("NonRecursive".into(), json!(true));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_lowercase();
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => {
                source = val.to_string();
                if val.starts_with('.') {
                    if let Ok(abs) = std::path::absolute(val) {
                        source = abs.display().to_string();
                    }
                }
            }
            "target" | "dst" | "destination" => target = val.to_string(),
            "readonly" | "ro" => read_only = bool_val(&key, val)?,
            // berth's own (Podman's `U`): the volume goes to the container's user.
            "chown" => chown = bool_val(&key, val)?,
            "consistency" => consistency = val.to_lowercase(),
            "bind-propagation" => {
                has_bind = true;
                bind.insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                has_bind = true;
                if bool_val(&key, val)? {
                    bind.insert("NonRecursive".into(), json!(true));
                }
            }
            "bind-recursive" => {
                has_bind = true;
                match val {
                    "enabled" => {}
                    "disabled" => {
                        bind.insert("NonRecursive".into(), json!(true));
                    }
                    "writable" => {
                        bind.insert("ReadOnlyNonRecursive".into(), json!(true));
                    }
                    "readonly" => {
                        bind.insert("ReadOnlyForceRecursive".into(), json!(true));
                    }
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        )
                        .replace("(must", "(must be"))
                    }
                }
            }
            "volume-subpath" => {
                has_volume = true;
                volume.insert("Subpath".into(), json!(val));
            }
            "volume-nocopy" => {
                has_volume = true;
                let b = bool_val("volume-nocopy", val)?;
                if b {
                    volume.insert("NoCopy".into(), json!(true));
                }
            }
            "volume-label" => {
                has_volume = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    labels.insert(k.into(), json!(v));
                }
            }
            "volume-driver" => {
                has_volume = true;
                driver.insert("Name".into(), json!(val));
            }
            "volume-opt" => {
                has_volume = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    driver_opts.insert(k.into(), json!(v));
                }
            }
            "image-subpath" => {
                has_image = true;
                image.insert("Subpath".into(), json!(val));
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                let n = ram_in_bytes(val).map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                let n = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if typ.is_empty() {
        return Err("type is required".into());
    }
    if target.is_empty() {
        return Err("target is required".into());
    }
    for (has, kind) in [
        (has_volume, "volume"),
        (has_image, "image"),
        (has_bind, "bind"),
        (has_tmpfs, "tmpfs"),
    ] {
        if has && typ != kind {
            return Err(format!(
                "cannot mix '{kind}-*' options with mount type '{typ}'"
            ));
        }
    }
    if bind.contains_key("ReadOnlyNonRecursive") && !read_only {
        return Err(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                .into(),
        );
    }
    if bind.contains_key("ReadOnlyForceRecursive") {
        if !read_only {
            return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
        }
        if bind.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
            return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
        }
    }
    let mut m = Map::new();
    m.insert("Type".into(), json!(typ));
    if !source.is_empty() {
        m.insert("Source".into(), json!(source));
    }
    m.insert("Target".into(), json!(target));
    if read_only {
        m.insert("ReadOnly".into(), json!(true));
    }
    if !consistency.is_empty() {
        m.insert("Consistency".into(), json!(consistency));
    }
    if chown {
        if typ != "volume" {
            return Err(format!(
                "option 'chown' is for volumes, not mount type '{typ}'"
            ));
        }
        // Not a field of Docker's Mount: berthd takes it, dockerd would refuse it.
        m.insert("Chown".into(), json!(true));
    }
    if has_bind {
        // Go field order: Propagation, NonRecursive, CreateMountpoint, ReadOnlyNonRecursive,
        // ReadOnlyForceRecursive.
        let mut o = Map::new();
        for k in [
            "Propagation",
            "NonRecursive",
            "ReadOnlyNonRecursive",
            "ReadOnlyForceRecursive",
        ] {
            if let Some(v) = bind.remove(k) {
                o.insert(k.into(), v);
            }
        }
        m.insert("BindOptions".into(), Value::Object(o));
    }
    if has_volume {
        let mut o = Map::new();
        if let Some(v) = volume.remove("NoCopy") {
            o.insert("NoCopy".into(), v);
        }
        if !labels.is_empty() {
            o.insert("Labels".into(), Value::Object(labels));
        }
        if let Some(v) = volume.remove("Subpath") {
            o.insert("Subpath".into(), v);
        }
        if !driver_opts.is_empty() {
            driver.insert("Options".into(), Value::Object(driver_opts));
        }
        if !driver.is_empty() {
            o.insert("DriverConfig".into(), Value::Object(driver));
        }
        m.insert("VolumeOptions".into(), Value::Object(o));
    }
    if has_image {
        m.insert("ImageOptions".into(), Value::Object(image));
    }
    if has_tmpfs {
        let mut o = Map::new();
        for k in ["SizeBytes", "Mode"] {
            if let Some(v) = tmpfs.remove(k) {
                o.insert(k.into(), v);
            }
        }
        m.insert("TmpfsOptions".into(), Value::Object(o));
    }
    Ok(Value::Object(m))
}

/// One CSV record (Go's encoding/csv): comma-separated, fields may be double-quoted.
pub fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start => quoted = true,
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            '"' => {
                return Err("parse error on line 1, column 1: bare \" in non-quoted field".into())
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".into());
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_binds_and_mounts() {
        let (binds, anon) =
            volumes(&["/tmp:/data:ro".into(), "named:/n".into(), "/anon".into()]).unwrap();
        assert_eq!(binds, vec!["/tmp:/data:ro", "named:/n"]);
        assert_eq!(anon.keys().collect::<Vec<_>>(), vec!["/anon"]);
        assert!(volumes(&["/a::b".into()]).is_err());
        assert!(volumes(&["/a:/b:ro:x".into()]).is_err());
        // A one-letter source is taken for a Windows drive, as docker takes it.
        assert_eq!(volumes(&["a::b".into()]).unwrap().0, vec!["a::b"]);
        assert_eq!(
            mount("type=bind,src=/tmp,dst=/x,readonly").unwrap(),
            json!({"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true})
        );
        assert_eq!(
            mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}})
        );
        assert_eq!(
            mount("target=/v,volume-driver=local,volume-opt=o=1").unwrap(),
            json!({"Type": "volume", "Target": "/v", "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"o": "1"}}}})
        );
        assert_eq!(mount("type=bind,src=/x").unwrap_err(), "target is required");
        assert_eq!(
            mount("src=v,dst=/v,chown=true").unwrap(),
            json!({"Type": "volume", "Source": "v", "Target": "/v", "Chown": true})
        );
        assert_eq!(mount("src=v,dst=/v,chown").unwrap()["Chown"], true);
        assert!(mount("type=bind,src=/x,dst=/v,chown").is_err());
        assert_eq!(
            mount("type=bind,target=/x,tmpfs-size=1m").unwrap_err(),
            "cannot mix 'tmpfs-*' options with mount type 'bind'"
        );
        assert_eq!(
            tmpfs(&["/run:size=1m".into(), "/t".into()]),
            BTreeMap::from([("/run".into(), "size=1m".into()), ("/t".into(), "".into())])
        );
    }
}
