//! A Dockerfile's stages: the ARGs before the first FROM, each FROM and what follows it, the
//! `--target` stage, and which stages the target needs (the rest are skipped, as BuildKit does).

use std::collections::BTreeSet;

use crate::dockerfile::{Dockerfile, Instruction};
use crate::instruction::Flags;
use crate::shell::{self, Vars};
use crate::BuildError;

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower case.
    pub name: Option<String>,
    /// The FROM's image (or earlier stage, or `scratch`), expanded with the meta ARGs.
    pub base: String,
    pub platform: Option<String>,
    pub from: Instruction,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The ARGs declared before the first FROM, with their values after `--build-arg`.
    pub meta_args: Vec<(String, String)>,
    pub stages: Vec<Stage>,
    /// The stage to build.
    pub target: usize,
}

impl Plan {
    /// Splits `df` into stages and picks the target (`--target` by name, else the last).
    /// `build_args` are the `--build-arg`s, which override the meta ARGs' defaults.
    pub fn new(
        df: &Dockerfile,
        build_args: &[(String, Option<String>)],
        predefined: &[(String, String)],
        target: Option<&str>,
    ) -> Result<Plan, BuildError> {
        let mut meta_args: Vec<(String, String)> = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for ins in &df.instructions {
            if ins.keyword == "FROM" {
                let stage = from(ins, stages.len(), &meta_args, predefined, df.escape)?;
                if let Some(name) = &stage.name {
                    if stages.iter().any(|s| s.name.as_deref() == Some(name)) {
                        return Err(BuildError::Dockerfile(format!("duplicate name {name}")));
                    }
                }
                stages.push(stage);
                continue;
            }
            match stages.last_mut() {
                Some(s) => s.instructions.push(ins.clone()),
                None if ins.keyword == "ARG" => {
                    for (k, default) in arg_decls(ins, &meta_args, df.escape)? {
                        let v = build_args
                            .iter()
                            .rev()
                            .find(|(n, _)| *n == k)
                            .and_then(|(_, v)| v.clone())
                            .or(default)
                            .unwrap_or_default();
                        meta_args.push((k, v));
                    }
                }
                None => {
                    return Err(BuildError::Dockerfile(format!(
                        "no build stage in current context (line {}: {} before FROM)",
                        ins.line, ins.keyword
                    )))
                }
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Dockerfile(
                "no build stage in current context".into(),
            ));
        }
        let target = match target.filter(|t| !t.is_empty()) {
            None => stages.len() - 1,
            Some(t) => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
                .ok_or_else(|| {
                    BuildError::Dockerfile(format!(
                        "failed to reach build target {t} in Dockerfile"
                    ))
                })?,
        };
        Ok(Plan {
            meta_args,
            stages,
            target,
        })
    }

    /// The stage a `FROM` or `--from` names, if it names an earlier one (by name or index).
    pub fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(&lower))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|&i| i < before)
    }

    /// The stages stage `i` starts from or copies from (its base and `--from` stages).
    pub fn deps(&self, i: usize) -> Vec<usize> {
        let s = &self.stages[i];
        let mut out: Vec<usize> = self.stage_named(&s.base, i).into_iter().collect();
        for ins in &s.instructions {
            for from in from_refs(ins) {
                out.extend(self.stage_named(&from, i));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The stages the target needs, in build order: its base stages and `--from` stages,
    /// transitively.
    pub fn needed(&self) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![self.target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.deps(i));
            }
        }
        need.into_iter().collect()
    }
}

/// The `--from=` of COPY and of RUN's bind mounts, as written (stage names are not variables).
fn from_refs(ins: &Instruction) -> Vec<String> {
    let mut out = Vec::new();
    for f in &ins.flags {
        if let Some(v) = f.strip_prefix("--from=") {
            out.push(v.to_string());
        }
        if let Some(m) = f.strip_prefix("--mount=") {
            for part in m.split(',') {
                if let Some(v) = part.strip_prefix("from=") {
                    out.push(v.to_string());
                }
            }
        }
    }
    out
}

fn from(
    ins: &Instruction,
    index: usize,
    meta: &[(String, String)],
    predefined: &[(String, String)],
    escape: char,
) -> Result<Stage, BuildError> {
    let flags = Flags::parse(ins, &["platform"])?;
    let vars: Vec<(String, String)> = predefined.iter().chain(meta.iter()).cloned().collect();
    let words = shell::process_words(&ins.args, &vars, escape)?;
    let (base, name) = match words.as_slice() {
        [] => {
            return Err(BuildError::Dockerfile(format!(
                "base name ({}) should not be blank",
                ins.args
            )))
        }
        [b] => (b.clone(), None),
        [b, as_, n] if as_.eq_ignore_ascii_case("as") => (b.clone(), Some(n.to_ascii_lowercase())),
        _ => {
            return Err(BuildError::Dockerfile(format!(
                "FROM requires either one or three arguments (line {})",
                ins.line
            )))
        }
    };
    if base.is_empty() {
        return Err(BuildError::Dockerfile(format!(
            "base name ({}) should not be blank",
            ins.args
        )));
    }
    if let Some(n) = &name {
        let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(BuildError::Dockerfile(format!(
                "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
            )));
        }
    }
    Ok(Stage {
        index,
        name,
        base,
        platform: flags.get("platform", &vars, escape)?,
        from: ins.clone(),
        instructions: Vec::new(),
    })
}

/// The names an ARG declares with their defaults (expanded with what is declared so far).
pub fn arg_decls(
    ins: &Instruction,
    vars: &dyn Vars,
    escape: char,
) -> Result<Vec<(String, Option<String>)>, BuildError> {
    let words = shell::process_words(&ins.args, vars, escape)?;
    if words.is_empty() {
        return Err(BuildError::Dockerfile(
            "ARG requires at least one argument".into(),
        ));
    }
    Ok(words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    #[test]
    fn stages_targets_and_what_they_need() {
        let df = parse(
            "ARG BASE=busybox\nARG TAG\nFROM $BASE:${TAG:-latest} AS tools\nRUN a\n\
             FROM scratch AS unused\nFROM tools AS build\nCOPY --from=tools /x /y\n\
             FROM busybox\nCOPY --from=build /y /z\n",
        )
        .unwrap();
        let plan = Plan::new(&df, &[("TAG".into(), Some("1.36".into()))], &[], None).unwrap();
        assert_eq!(plan.stages[0].base, "busybox:1.36");
        assert_eq!(plan.stages[0].name.as_deref(), Some("tools"));
        assert_eq!(plan.target, 3);
        assert_eq!(plan.needed(), [0, 2, 3]);
        assert_eq!(plan.deps(2), [0], "its base and a --from, once");
        assert_eq!(plan.deps(3), [2]);
        assert!(plan.deps(0).is_empty());
        let plan = Plan::new(&df, &[], &[], Some("tools")).unwrap();
        assert_eq!(plan.needed(), [0]);
        assert_eq!(plan.stages[0].base, "busybox:latest");
        assert!(Plan::new(&df, &[], &[], Some("nope")).is_err());
        let bad = parse("RUN x\nFROM a\n").unwrap();
        assert!(Plan::new(&bad, &[], &[], None).is_err());
        let dup = parse("FROM a AS x\nFROM b AS x\n").unwrap();
        assert!(Plan::new(&dup, &[], &[], None).is_err());
    }
}
