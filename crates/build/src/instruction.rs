//! What an instruction's words mean: flags, `key=value` lists, exec or shell form, with the
//! variables of the moment expanded where the Dockerfile frontend expands them.

use crate::dockerfile::Instruction;
use crate::shell::{self, Vars};
use crate::BuildError;

/// The flags of one instruction, checked against the ones it takes.
#[derive(Debug, Default)]
pub struct Flags {
    values: Vec<(String, Option<String>)>,
}

impl Flags {
    /// Reads `ins.flags`, refusing any flag not in `allowed` by name, as BuildKit does.
    pub fn parse(ins: &Instruction, allowed: &[&str]) -> Result<Flags, BuildError> {
        let mut values = Vec::new();
        for f in &ins.flags {
            let body = f.trim_start_matches('-');
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            if !allowed.contains(&name.as_str()) {
                return Err(BuildError::Dockerfile(format!(
                    "dockerfile parse error on line {}: Unknown flag: {name}",
                    ins.line
                )));
            }
            values.push((name, value));
        }
        Ok(Flags { values })
    }

    /// The flag's value (the last one given), expanded.
    pub fn get(
        &self,
        name: &str,
        vars: &dyn Vars,
        escape: char,
    ) -> Result<Option<String>, BuildError> {
        match self.values.iter().rev().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, None)) => Ok(Some(String::new())),
            Some((_, Some(v))) => Ok(Some(shell::process_word(v, vars, escape)?)),
        }
    }

    /// Every value of a repeatable flag (`--mount`), unexpanded.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    /// A boolean flag: `--link`, `--link=true`, `--link=false`.
    pub fn bool(&self, name: &str) -> Result<bool, BuildError> {
        match self.values.iter().rev().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(BuildError::Dockerfile(format!(
                    "expecting boolean value for flag {name}, not: {v}"
                ))),
            },
        }
    }
}

/// `ENV`, `LABEL` and `ARG`-style pairs. With `legacy`, `ENV key the value` is taken too.
pub fn pairs(
    ins: &Instruction,
    vars: &dyn Vars,
    escape: char,
    legacy: bool,
) -> Result<Vec<(String, String)>, BuildError> {
    let words = shell::process_words(&ins.args, vars, escape)?;
    if words.is_empty() {
        return Err(BuildError::Dockerfile(format!(
            "{} requires at least one argument",
            ins.keyword
        )));
    }
    if legacy && !words[0].contains('=') {
        let (k, v) = ins.args.split_once(char::is_whitespace).ok_or_else(|| {
            BuildError::Dockerfile(format!("{} must have two arguments", ins.keyword))
        })?;
        let v = shell::process_word(v.trim(), vars, escape)?;
        return Ok(vec![(k.to_string(), v)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(BuildError::Dockerfile(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ))),
        })
        .collect()
}

/// A command instruction's argv: the JSON form as written, the shell form wrapped in `shell`.
pub fn command(ins: &Instruction, shell_words: &[String]) -> Vec<String> {
    match &ins.json {
        Some(words) => words.clone(),
        None => {
            let mut argv = shell_words.to_vec();
            argv.push(ins.args.clone());
            argv
        }
    }
}

/// Words of an instruction that lists paths or values (COPY, ADD, VOLUME, EXPOSE), expanded.
pub fn words(ins: &Instruction, vars: &dyn Vars, escape: char) -> Result<Vec<String>, BuildError> {
    match &ins.json {
        Some(w) => w
            .iter()
            .map(|w| Ok(shell::process_word(w, vars, escape)?))
            .collect(),
        None => Ok(shell::process_words(&ins.args, vars, escape)?),
    }
}

/// Parses a Go duration as HEALTHCHECK's flags take them (`30s`, `1m30s`, `500ms`), in ns.
pub fn duration_ns(s: &str) -> Result<i64, BuildError> {
    let bad = || BuildError::Dockerfile(format!("time: invalid duration \"{s}\""));
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn ins(line: &str) -> Instruction {
        parse(&format!("FROM x\n{line}\n")).unwrap().instructions[1].clone()
    }

    #[test]
    fn flag_values_keep_their_equals_signs() {
        let run = ins("RUN --mount=type=cache,target=/cache --network=none echo hi");
        let flags = Flags::parse(&run, &["mount", "network"]).unwrap();
        assert_eq!(flags.all("mount"), ["type=cache,target=/cache"]);
        assert_eq!(run.args, "echo hi");
    }

    #[test]
    fn pairs_flags_and_forms() {
        let vars = vec![("B".to_string(), "bee".to_string())];
        assert_eq!(
            pairs(&ins("ENV A=1 C=\"$B x\""), &vars, '\\', true).unwrap(),
            [("A".into(), "1".into()), ("C".into(), "bee x".into())]
        );
        assert_eq!(
            pairs(&ins("ENV A the $B"), &vars, '\\', true).unwrap(),
            [("A".to_string(), "the bee".to_string())]
        );
        assert!(pairs(&ins("LABEL novalue"), &vars, '\\', false).is_err());
        let i = ins("COPY --from=$B --link a b");
        let f = Flags::parse(&i, &["from", "link", "chown"]).unwrap();
        assert_eq!(f.get("from", &vars, '\\').unwrap().as_deref(), Some("bee"));
        assert!(f.bool("link").unwrap());
        assert_eq!(f.get("chown", &vars, '\\').unwrap(), None);
        assert_eq!(
            Flags::parse(&ins("COPY --frm=x a b"), &["from"])
                .unwrap_err()
                .to_string(),
            "dockerfile parse error on line 2: Unknown flag: frm"
        );
        let sh = ["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(
            command(&ins("RUN echo $HOME"), &sh),
            ["/bin/sh", "-c", "echo $HOME"]
        );
        assert_eq!(command(&ins("CMD [\"a\",\"b\"]"), &sh), ["a", "b"]);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("5x").is_err());
    }
}
