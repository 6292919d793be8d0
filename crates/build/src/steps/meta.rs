//! The instructions that change only the image's config: ENV, ARG, LABEL, EXPOSE, VOLUME,
//! USER, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER. Each makes an
//! image with the parent's layers, a new config and an `empty_layer` history entry.

use serde_json::{json, Map, Value};

use crate::builder::{Builder, Output, Prepared, StageState};
use crate::cache::CacheKey;
use crate::dockerfile::{self, Instruction};
use crate::instruction::{self, Flags};
use crate::shell;
use crate::stages::arg_decls;
use crate::BuildError;

impl Builder {
    pub(crate) async fn meta_step(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        out: &Output,
    ) -> Result<(), BuildError> {
        let description = apply(p, st, ins)?;
        let key = CacheKey::new(&st.image.to_string(), &["meta", &description]);
        let created_by = format!("/bin/sh -c #(nop)  {description}");
        if let Some(id) = self.cached(p, st, &key, &created_by, out).await {
            st.image = id;
            return Ok(());
        }
        let id = self.commit_config(st, &created_by)?;
        self.remember(&key, &id);
        st.image = id;
        Ok(())
    }
}

fn object<'a>(config: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !config[key].is_object() {
        config[key] = json!({});
    }
    config[key].as_object_mut().expect("an object")
}

fn no_flags(ins: &Instruction) -> Result<(), BuildError> {
    Flags::parse(ins, &[]).map(|_| ())
}

/// Applies the instruction to the stage; returns how history and the cache describe it.
fn apply(p: &Prepared, st: &mut StageState, ins: &Instruction) -> Result<String, BuildError> {
    let esc = st.escape;
    let vars = st.vars();
    let kw = ins.keyword.as_str();
    match kw {
        "ENV" => {
            no_flags(ins)?;
            let pairs = instruction::pairs(ins, &vars, esc, true)?;
            let mut desc = Vec::new();
            for (k, v) in &pairs {
                st.set_env(k, v);
                desc.push(format!("{k}={v}"));
            }
            Ok(format!("ENV {}", desc.join(" ")))
        }
        "ARG" => {
            no_flags(ins)?;
            let mut desc = Vec::new();
            for (k, default) in arg_decls(ins, &vars, esc)? {
                let given = p
                    .opts
                    .build_args
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| v.clone());
                let predefined = crate::builder::predefined_args(
                    &p.opts
                        .platform
                        .clone()
                        .unwrap_or_else(berth_image::manifest::Platform::host),
                )
                .into_iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v);
                // A bare ARG of a meta ARG takes its value (BuildKit's scoping).
                let meta = p
                    .plan
                    .meta_args
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone());
                let value = given.or(default.clone()).or(meta).or(predefined);
                desc.push(match &default {
                    Some(d) => format!("{k}={d}"),
                    None => k.clone(),
                });
                st.args.retain(|(n, _)| *n != k);
                if let Some(v) = value {
                    st.args.push((k, v));
                }
            }
            Ok(format!("ARG {}", desc.join(" ")))
        }
        "LABEL" => {
            no_flags(ins)?;
            let pairs = instruction::pairs(ins, &vars, esc, true)?;
            let labels = object(&mut st.config, "Labels");
            let mut desc = Vec::new();
            for (k, v) in pairs {
                desc.push(format!("{k}={v}"));
                labels.insert(k, json!(v));
            }
            Ok(format!("LABEL {}", desc.join(" ")))
        }
        "MAINTAINER" => {
            no_flags(ins)?;
            st.author = shell::process_word(&ins.args, &vars, esc)?;
            Ok(format!("MAINTAINER {}", st.author))
        }
        "EXPOSE" => {
            no_flags(ins)?;
            let words = instruction::words(ins, &vars, esc)?;
            if words.is_empty() {
                return Err(BuildError::Dockerfile(
                    "EXPOSE requires at least one argument".into(),
                ));
            }
            let mut ports = Vec::new();
            for w in words {
                let (port, proto) = w.split_once('/').unwrap_or((w.as_str(), "tcp"));
                let valid_port = |s: &str| s.parse::<u16>().is_ok_and(|n| n > 0);
                let ok = match port.split_once('-') {
                    Some((a, b)) => valid_port(a) && valid_port(b),
                    None => valid_port(port),
                };
                if !ok || !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
                    return Err(BuildError::Invalid(format!("invalid containerPort: {w}")));
                }
                ports.push(format!("{port}/{}", proto.to_ascii_lowercase()));
            }
            let map = object(&mut st.config, "ExposedPorts");
            for port in &ports {
                map.insert(port.clone(), json!({}));
            }
            Ok(format!("EXPOSE {}", ports.join(" ")))
        }
        "VOLUME" => {
            no_flags(ins)?;
            let words = instruction::words(ins, &vars, esc)?;
            if words.is_empty() {
                return Err(BuildError::Dockerfile(
                    "VOLUME requires at least one argument".into(),
                ));
            }
            let map = object(&mut st.config, "Volumes");
            for w in &words {
                if w.trim().is_empty() {
                    return Err(BuildError::Invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                map.insert(w.clone(), json!({}));
            }
            Ok(format!(
                "VOLUME {}",
                serde_json::to_string(&words).unwrap_or_default()
            ))
        }
        "USER" => {
            no_flags(ins)?;
            let user = shell::process_word(&ins.args, &vars, esc)?;
            if user.is_empty() {
                return Err(BuildError::Dockerfile(
                    "USER requires exactly one argument".into(),
                ));
            }
            st.config["User"] = json!(user);
            Ok(format!("USER {user}"))
        }
        "STOPSIGNAL" => {
            no_flags(ins)?;
            let sig = shell::process_word(&ins.args, &vars, esc)?;
            if berth_container::signal::parse_signal(&sig).is_none() {
                return Err(BuildError::Invalid(format!("Invalid signal: {sig}")));
            }
            st.config["StopSignal"] = json!(sig);
            Ok(format!("STOPSIGNAL {sig}"))
        }
        "CMD" | "ENTRYPOINT" => {
            no_flags(ins)?;
            let argv = instruction::command(ins, &st.shell);
            let argv = if ins.json.is_none() && ins.args.is_empty() {
                vec![]
            } else {
                argv
            };
            if kw == "CMD" {
                st.config["Cmd"] = json!(argv);
                st.cmd_set = true;
            } else {
                st.config["Entrypoint"] = json!(argv);
                if !st.cmd_set {
                    st.config["Cmd"] = Value::Null;
                }
            }
            Ok(format!(
                "{kw} {}",
                serde_json::to_string(&argv).unwrap_or_default()
            ))
        }
        "SHELL" => {
            no_flags(ins)?;
            let argv = ins.json.clone().ok_or_else(|| {
                BuildError::Dockerfile("SHELL requires the arguments to be in JSON form".into())
            })?;
            if argv.is_empty() {
                return Err(BuildError::Dockerfile(
                    "SHELL requires at least one argument".into(),
                ));
            }
            st.config["Shell"] = json!(argv);
            st.shell = argv.clone();
            Ok(format!(
                "SHELL {}",
                serde_json::to_string(&argv).unwrap_or_default()
            ))
        }
        "HEALTHCHECK" => healthcheck(st, ins, &vars),
        "ONBUILD" => {
            no_flags(ins)?;
            let trigger = ins.args.trim();
            let inner = dockerfile::parse(&format!("# escape={esc}\n{trigger}\n"))?;
            let kw = inner.instructions[0].keyword.as_str();
            if matches!(kw, "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(BuildError::Dockerfile(format!(
                    "{kw} isn't allowed as an ONBUILD trigger"
                )));
            }
            if !st.config["OnBuild"].is_array() {
                st.config["OnBuild"] = json!([]);
            }
            st.config["OnBuild"]
                .as_array_mut()
                .expect("an array")
                .push(json!(trigger));
            Ok(format!("ONBUILD {trigger}"))
        }
        other => Err(BuildError::Dockerfile(format!(
            "dockerfile parse error on line {}: unknown instruction: {other}",
            ins.line
        ))),
    }
}

fn healthcheck(
    st: &mut StageState,
    ins: &Instruction,
    vars: &[(String, String)],
) -> Result<String, BuildError> {
    let flags = Flags::parse(
        ins,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    let esc = st.escape;
    let (word, rest) = ins
        .args
        .split_once(char::is_whitespace)
        .unwrap_or((ins.args.as_str(), ""));
    let mut hc = Map::new();
    match word.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.trim().is_empty() || !ins.flags.is_empty() {
                return Err(BuildError::Dockerfile(
                    "HEALTHCHECK NONE takes no arguments".into(),
                ));
            }
            hc.insert("Test".into(), json!(["NONE"]));
        }
        "CMD" => {
            let rest = rest.trim();
            let test: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(argv) if rest.starts_with('[') => {
                    std::iter::once("CMD".to_string()).chain(argv).collect()
                }
                _ => vec!["CMD-SHELL".into(), rest.to_string()],
            };
            if rest.is_empty() {
                return Err(BuildError::Dockerfile(
                    "Missing command after HEALTHCHECK CMD".into(),
                ));
            }
            hc.insert("Test".into(), json!(test));
            for (flag, key) in [
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("start-interval", "StartInterval"),
            ] {
                if let Some(v) = flags.get(flag, &vars.to_vec(), esc)? {
                    hc.insert(key.into(), json!(instruction::duration_ns(&v)?));
                }
            }
            if let Some(v) = flags.get("retries", &vars.to_vec(), esc)? {
                let n: i64 = v
                    .parse()
                    .map_err(|_| BuildError::Invalid(format!("invalid --retries: {v}")))?;
                hc.insert("Retries".into(), json!(n));
            }
        }
        _ => {
            return Err(BuildError::Dockerfile(format!(
                "Unknown type {word:?} in HEALTHCHECK (try CMD)"
            )))
        }
    }
    let text = serde_json::to_string(&hc["Test"]).unwrap_or_default();
    st.config["Healthcheck"] = Value::Object(hc);
    Ok(format!("HEALTHCHECK {text}"))
}
