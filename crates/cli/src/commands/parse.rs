//! The value syntaxes of `run`/`create` flags, parsed as the docker CLI parses them (its `opts`
//! package, go-units, go-connections/nat) and failing with the same words, so that a flag that
//! works with docker works here and a typo is reported the same way.

use serde_json::{json, Value};

/// Wraps a value parser so its error reads like pflag's: `invalid argument "x" for "-m, --memory"
/// flag: …`. main.rs recognises the prefix and adds docker's usage lines.
pub fn flag<T: 'static>(
    name: &'static str,
    f: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s| f(s).map_err(|e| format!("invalid argument \"{s}\" for \"{name}\" flag: {e}"))
}

pub use berth_volume::units::ram_in_bytes;

/// `--memory-swap`: like a size, but `-1` means unlimited.
pub fn mem_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// Go's `strconv.ParseInt(s, 10, 64)` with its error text, for integer flags.
pub fn go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseBool`, for boolean flags given a value (`--sig-proxy=false`).
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// `--cpus`: a rational number of CPUs as nano-CPUs (`1.5` → 1500000000).
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let not_rational = || format!("failed to parse {s} as a rational number");
    // A rational is num/den or a decimal (optionally with an exponent), as big.Rat.SetString takes.
    let (num, den): (i128, i128) = if let Some((a, b)) = s.split_once('/') {
        let a: i128 = a.parse().map_err(|_| not_rational())?;
        let b: i128 = b.parse().map_err(|_| not_rational())?;
        if b == 0 {
            return Err(not_rational());
        }
        (a, b)
    } else {
        decimal_to_ratio(s).ok_or_else(not_rational)?
    };
    let nano = num.checked_mul(1_000_000_000).ok_or_else(not_rational)?;
    if nano % den != 0 {
        return Err("value is too precise".into());
    }
    i64::try_from(nano / den).map_err(|_| not_rational())
}

/// "1.25e1" → (125, 10): exact, so that precision is judged as big.Rat would.
fn decimal_to_ratio(s: &str) -> Option<(i128, i128)> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, m) = match mantissa.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut num: i128 = format!("{int}{frac}").parse().ok()?;
    let mut den: i128 = 10i128.checked_pow(frac.len() as u32)?;
    if exp >= 0 {
        num = num.checked_mul(10i128.checked_pow(exp as u32)?)?;
    } else {
        den = den.checked_mul(10i128.checked_pow((-exp) as u32)?)?;
    }
    Some((if neg { -num } else { num }, den))
}

/// `-e`: only an empty name is refused; a bare `KEY` is resolved later from the client's
/// environment (see [`resolve_env`]).
pub fn validate_env(s: &str) -> Result<String, String> {
    if s.split('=').next().unwrap_or("").is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    Ok(s.to_string())
}

/// The docker CLI turns `-e KEY` into `KEY=value` when the client has KEY set, and otherwise
/// sends the bare `KEY`, which the daemon treats as "unset".
pub fn resolve_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if s.contains('=') {
        return s.to_string();
    }
    match lookup(s) {
        Some(v) => format!("{s}={v}"),
        None => s.to_string(),
    }
}

/// `-l`: a label needs a name without whitespace.
pub fn validate_label(s: &str) -> Result<String, String> {
    let key = s
        .split('=')
        .next()
        .unwrap_or("")
        .trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(s.to_string())
}

/// Reads a variable of the client's environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The lines of an `--env-file`/`--label-file` (docker's kvfile format): `#` comments and blank
/// lines skipped, `KEY=value` kept as-is, a bare `KEY` looked up (and dropped if unset).
pub fn parse_kv_lines(text: &str, lookup: Option<Lookup>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = if i == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, has_value) = match line.split_once('=') {
            Some((k, _)) => (k, true),
            None => (line, false),
        };
        if key.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if key.contains([' ', '\t']) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        if has_value {
            out.push(line.to_string());
        } else if let Some(v) = lookup.and_then(|f| f(line)) {
            out.push(format!("{key}={v}"));
        }
    }
    Ok(out)
}

/// Reads key/value files as the docker CLI does, naming the file in errors.
pub fn read_kv_files(files: &[String], lookup: Option<Lookup>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| go_open_error(f, &e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("invalid env file ({f}): invalid utf8 bytes"))?;
        out.extend(
            parse_kv_lines(&text, lookup).map_err(|e| format!("invalid env file ({f}): {e}"))?,
        );
    }
    Ok(out)
}

/// Go's `*PathError` text for a failed open: `open x: no such file or directory`.
pub fn go_open_error(path: &str, e: &std::io::Error) -> String {
    let msg = match e.raw_os_error() {
        // SAFETY: strerror returns a static NUL-terminated string for any errno.
        Some(n) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .to_lowercase(),
        None => e.to_string(),
    };
    format!("open {path}: {msg}")
}

/// `--restart no|always|unless-stopped|on-failure[:N]` as the API's RestartPolicy.
pub fn restart_policy(s: &str) -> Result<Value, String> {
    if s.is_empty() {
        return Ok(json!({"Name": "", "MaximumRetryCount": 0}));
    }
    let (name, count) = match s.split_once(':') {
        Some(("", _)) => {
            return Err("invalid restart policy format: no policy provided before colon".into())
        }
        Some((n, c)) => (n, c),
        None => (s, ""),
    };
    let max: i64 = if count.is_empty() {
        0
    } else {
        count.parse().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok(json!({"Name": name, "MaximumRetryCount": max}))
}

/// `--dns`: an IP address, normalised.
pub fn ip_address(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("IP address is not correctly formatted: {s}"))
}

/// `--add-host name:ip` or `name=ip` (IPv6 may be bracketed) → `name:ip` for the API.
pub fn extra_host(s: &str) -> Result<String, String> {
    let (k, v) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| format!("bad format for add-host: {s:?}"))?;
    if k.is_empty() || k.contains(':') {
        return Err(format!("bad format for add-host: {s:?}"));
    }
    let mut v = v;
    if v != "host-gateway" {
        if v.len() > 2 && v.starts_with('[') && v.ends_with(']') {
            v = &v[1..v.len() - 1];
        }
        ip_address(v).map_err(|_| format!("invalid IP address in add-host: {v:?}"))?;
    }
    Ok(format!("{k}:{v}"))
}

/// `-a stdin|stdout|stderr`.
pub fn attach_stream(s: &str) -> Result<String, String> {
    let l = s.to_lowercase();
    if matches!(l.as_str(), "stdin" | "stdout" | "stderr") {
        Ok(l)
    } else {
        Err("valid streams are STDIN, STDOUT and STDERR".into())
    }
}

/// `--cap-add`/`--cap-drop` as the Go client sends them: upper-case, `CAP_` prefixed (except
/// `ALL`), de-duplicated and sorted.
pub fn normalize_caps(caps: &[String]) -> Value {
    if caps.is_empty() {
        return Value::Null;
    }
    let mut set: Vec<String> = caps
        .iter()
        .map(|c| {
            let u = c.trim().to_uppercase();
            if u == "ALL" || u.starts_with("CAP_") {
                u
            } else {
                format!("CAP_{u}")
            }
        })
        .collect();
    set.sort();
    set.dedup();
    json!(set)
}

/// `--security-opt`: validated, with a seccomp profile file inlined as compact JSON.
/// `systempaths=unconfined` is handled on the client: it empties MaskedPaths/ReadonlyPaths.
pub fn security_opts(opts: &[String]) -> Result<(Vec<String>, bool), String> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        let (k, v) = match opt.split_once('=') {
            Some(kv) => Some(kv),
            None if opt == "no-new-privileges" => None,
            None => opt.split_once(':'),
        }
        .map(|(k, v)| (k, Some(v)))
        .unwrap_or((opt.as_str(), None));
        if k != "no-new-privileges" && v.is_none_or(str::is_empty) {
            return Err(format!("Invalid --security-opt: {opt:?}"));
        }
        if k == "seccomp" {
            let v = v.unwrap_or_default();
            if v != "builtin" && v != "unconfined" {
                let text = std::fs::read_to_string(v).map_err(|e| {
                    format!(
                        "opening seccomp profile ({v}) failed: {}",
                        go_open_error(v, &e)
                    )
                })?;
                let parsed: Value = serde_json::from_str(&text).map_err(|e| {
                    format!("compacting json for seccomp profile ({v}) failed: {e}")
                })?;
                out.push(format!("seccomp={parsed}"));
                continue;
            }
        }
        out.push(opt.clone());
    }
    Ok((out, unconfined_paths))
}

/// `--ulimit name=soft[:hard]` → `{"Name","Hard","Soft"}`.
pub fn ulimit(s: &str) -> Result<Value, String> {
    const NAMES: [&str; 16] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = vals.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [s] => {
            let s = go_int(s)?;
            (s, s)
        }
        [s, h] => (go_int(s)?, go_int(h)?),
        _ => {
            return Err(format!(
                "too many limit value arguments - {vals}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if hard != -1 {
        if soft == -1 {
            return Err(format!("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"));
        }
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `--sysctl k=v`: namespaced sysctls only, as docker accepts them.
pub fn sysctl(s: &str) -> Result<String, String> {
    const EXACT: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = s.split('=').next().unwrap_or("");
    if !s.contains('=') {
        return Err(format!("sysctl '{s}' is not allowed"));
    }
    if EXACT.contains(&key) || key.starts_with("net.") || key.starts_with("fs.mqueue.") {
        Ok(s.to_string())
    } else {
        Err(format!("sysctl '{s}' is not allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_like_go_units() {
        // The sizes themselves are berth_volume::units'.
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(mem_swap("-1"), Ok(-1));
        let f = flag("-m, --memory", ram_in_bytes);
        assert_eq!(
            f("x").unwrap_err(),
            "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'"
        );
    }

    #[test]
    fn cpus_as_nano_cpus() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("1e-1"), Ok(100_000_000));
        assert_eq!(
            parse_cpus("abc"),
            Err("failed to parse abc as a rational number".into())
        );
        assert_eq!(
            parse_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
    }

    #[test]
    fn go_integers() {
        assert_eq!(go_int("-5"), Ok(-5));
        assert_eq!(
            go_int("x"),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            go_int("99999999999999999999"),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
    }

    #[test]
    fn env_and_env_files() {
        let lookup = |k: &str| (k == "HOME_X").then(|| "/root".to_string());
        assert_eq!(resolve_env("A=1", &lookup), "A=1");
        assert_eq!(resolve_env("HOME_X", &lookup), "HOME_X=/root");
        assert_eq!(resolve_env("UNSET_Y", &lookup), "UNSET_Y");
        assert!(validate_env("=x").is_err());
        assert_eq!(validate_env("A="), Ok("A=".into()));
        let text = "\u{feff}# comment\n\n  A=1\nB= spaced \nHOME_X\nUNSET_Y\n";
        assert_eq!(
            parse_kv_lines(text, Some(&lookup)).unwrap(),
            vec!["A=1", "B= spaced ", "HOME_X=/root"]
        );
        assert_eq!(
            parse_kv_lines("A B=1", None).unwrap_err(),
            "variable 'A B' contains whitespaces"
        );
        assert_eq!(
            parse_kv_lines("=1", None).unwrap_err(),
            "no variable name on line '=1'"
        );
        assert_eq!(
            read_kv_files(&["/nonexistent/env".into()], None).unwrap_err(),
            "open /nonexistent/env: no such file or directory"
        );
    }

    #[test]
    fn small_syntaxes() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert!(restart_policy(":3").is_err());
        assert!(restart_policy("always:x").is_err());
        assert_eq!(extra_host("h:1.2.3.4"), Ok("h:1.2.3.4".into()));
        assert_eq!(extra_host("h=[::1]"), Ok("h:::1".into()));
        assert_eq!(extra_host("h:host-gateway"), Ok("h:host-gateway".into()));
        assert!(extra_host("h:nope").is_err());
        assert_eq!(
            normalize_caps(&["net_admin".into(), "ALL".into(), "CAP_NET_ADMIN".into()]),
            json!(["ALL", "CAP_NET_ADMIN"])
        );
        assert_eq!(normalize_caps(&[]), Value::Null);
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Hard": 2048, "Soft": 1024})
        );
        assert!(ulimit("nofile=3:2").is_err());
        assert_eq!(
            security_opts(&["no-new-privileges".into(), "systempaths=unconfined".into()]).unwrap(),
            (vec!["no-new-privileges".to_string()], true)
        );
        assert!(security_opts(&["label".into()]).is_err());
        assert_eq!(validate_label("a=b"), Ok("a=b".into()));
        assert!(validate_label("=b").is_err());
        assert_eq!(attach_stream("STDIN"), Ok("stdin".into()));
    }
}
