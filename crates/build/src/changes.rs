//! `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
//! VOLUME, WORKDIR) applied to a container config as JSON, with dockerd's rules: JSON-array
//! arguments are exec form, anything else shell form (`/bin/sh -c …`).

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    #[error("{0} requires at least one argument")]
    MissingArgument(String),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// Applies one instruction line to `config` (a JSON object, created if null).
pub fn apply(config: &mut Value, line: &str) -> Result<(), ChangeError> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let instr = word.to_ascii_uppercase();
    let rest = rest.trim();
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    let obj = config.as_object_mut().expect("object");
    let allowed = [
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    if !allowed.contains(&instr.as_str()) {
        return Err(ChangeError::NotAllowed(word.to_string()));
    }
    if rest.is_empty() && instr != "CMD" && instr != "ENTRYPOINT" {
        return Err(ChangeError::MissingArgument(instr));
    }
    match instr.as_str() {
        "CMD" | "ENTRYPOINT" => {
            let key = if instr == "CMD" { "Cmd" } else { "Entrypoint" };
            obj.insert(key.into(), json!(command_form(rest)));
        }
        "ENV" => {
            let env = obj.entry("Env").or_insert_with(|| json!([]));
            if !env.is_array() {
                *env = json!([]);
            }
            let list = env.as_array_mut().unwrap();
            for (k, v) in pairs(rest, true).map_err(|e| ChangeError::Invalid(instr.clone(), e))? {
                list.retain(|e| {
                    e.as_str().and_then(|s| s.split_once('=')).map(|(ek, _)| ek) != Some(k.as_str())
                });
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = obj.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in pairs(rest, false).map_err(|e| ChangeError::Invalid(instr.clone(), e))? {
                labels[k] = json!(v);
            }
        }
        "EXPOSE" => {
            let ports = obj.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !ports.is_object() {
                *ports = json!({});
            }
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports[p] = json!({});
            }
        }
        "VOLUME" => {
            let vols = obj.entry("Volumes").or_insert_with(|| json!({}));
            if !vols.is_object() {
                *vols = json!({});
            }
            let paths: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) => v,
                Err(_) => rest.split_whitespace().map(str::to_string).collect(),
            };
            for p in paths {
                vols[p] = json!({});
            }
        }
        "WORKDIR" => {
            let current = obj
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string();
            let wd = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{}/{rest}", current.trim_end_matches('/'))
            };
            obj.insert("WorkingDir".into(), json!(wd));
        }
        "USER" => {
            obj.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            obj.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            let list = obj.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            list.as_array_mut().unwrap().push(json!(rest));
        }
        _ => unreachable!("checked against the allowed list"),
    }
    Ok(())
}

/// Exec form for a JSON string array, shell form otherwise.
fn command_form(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v;
        }
    }
    if rest.is_empty() {
        return vec![];
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// `k=v k2="v 2"` pairs; with `legacy`, also the old `KEY value with spaces` form of ENV.
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if legacy && !words.first().is_some_and(|w| w.contains('=')) {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or("ENV names must be followed by a value")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("key=value expected, got {w:?}")),
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> Value {
        let mut c = Value::Null;
        for l in lines {
            apply(&mut c, l).unwrap();
        }
        c
    }

    #[test]
    fn exec_and_shell_forms() {
        let c = applied(&[r#"CMD ["/bin/echo", "hi"]"#, "ENTRYPOINT /start --now"]);
        assert_eq!(c["Cmd"], json!(["/bin/echo", "hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/start --now"]));
    }

    #[test]
    fn env_label_expose_volume_workdir() {
        let c = applied(&[
            "ENV A=1 B=\"two words\"",
            "ENV C legacy value",
            "ENV A=3",
            "LABEL org.example=yes 'quoted key'=v",
            "EXPOSE 80 53/udp",
            r#"VOLUME ["/data"]"#,
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(c["Env"], json!(["B=two words", "C=legacy value", "A=3"]));
        assert_eq!(
            c["Labels"],
            json!({"org.example": "yes", "quoted key": "v"})
        );
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["WorkingDir"], "/app/sub");
        assert_eq!(c["User"], "nobody");
        assert_eq!(c["StopSignal"], "SIGINT");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let mut c = Value::Null;
        assert_eq!(
            apply(&mut c, "RUN rm -rf /"),
            Err(ChangeError::NotAllowed("RUN".into()))
        );
        assert_eq!(
            apply(&mut c, "FROM x").unwrap_err().to_string(),
            "FROM is not a valid change command"
        );
        assert!(apply(&mut c, "ENV").is_err());
        assert!(apply(&mut c, "LABEL \"unterminated").is_err());
    }
}
