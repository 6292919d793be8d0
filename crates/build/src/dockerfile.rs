//! The Dockerfile's syntax as BuildKit's parser reads it: parser directives (`# escape`,
//! `# syntax`, `# check`), comments, line continuations with the escape character, heredocs
//! for RUN/COPY/ADD, instruction flags (`--from=…`), and JSON (exec) or shell form.
//! What each instruction means is [`crate::instruction`]'s.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("the Dockerfile cannot be empty")]
    Empty,
    #[error("dockerfile parse error on line {line}: unknown instruction: {word}")]
    UnknownInstruction { line: usize, word: String },
    #[error("invalid escape token '{0}' does not match ` or \\")]
    BadEscape(String),
    #[error("dockerfile parse error on line {line}: unterminated heredoc {name}")]
    UnterminatedHeredoc { line: usize, name: String },
    #[error("dockerfile parse error on line {line}: {message}")]
    Other { line: usize, message: String },
}

/// The instructions berth's builder knows. Anything else is an unknown instruction.
pub const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A heredoc's body, as `RUN <<EOF` or `COPY <<EOF /file` give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Unquoted names have their content expanded (by the shell for RUN, by the builder for COPY).
    pub expand: bool,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Upper case: `RUN`, `COPY`, …
    pub keyword: String,
    /// Leading `--name=value` words, as written (unexpanded).
    pub flags: Vec<String>,
    /// The rest after the flags, continuation lines joined.
    pub args: String,
    /// The exec form's words, when the rest is a JSON string array.
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
    /// The line the instruction starts on (1-based).
    pub line: usize,
    /// The instruction as the build's progress shows it (`RUN echo hi`).
    pub original: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    /// The `# syntax=` directive, reported and not used (frontends are images).
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// Parses the directives at the top: they end at the first line that is not one.
fn directives(lines: &[&str]) -> Result<(char, Option<String>, usize), ParseError> {
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(body) = line.trim().strip_prefix('#') else {
            return Ok((escape, syntax, i));
        };
        let Some((k, v)) = body.split_once('=') else {
            return Ok((escape, syntax, i));
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) || seen.contains(&k) {
            return Ok((escape, syntax, i));
        }
        match k.as_str() {
            "escape" => {
                escape = match v {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(ParseError::BadEscape(v.to_string())),
                }
            }
            "syntax" => syntax = Some(v.to_string()),
            _ => {}
        }
        seen.push(k);
    }
    Ok((escape, syntax, lines.len()))
}

/// Whether `line` (trimmed at the end) ends with the escape character, continuing on the next.
fn continues(line: &str, escape: char) -> Option<&str> {
    line.trim_end().strip_suffix(escape)
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let (escape, syntax, start) = directives(&lines)?;
    let mut instructions = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let first = lines[i].trim_start();
        if first.is_empty() || first.starts_with('#') {
            i += 1;
            continue;
        }
        let line_no = i + 1;
        // Join continuation lines; comment lines inside a continuation are dropped.
        let mut joined = String::new();
        let mut cur = first;
        loop {
            match continues(cur, escape) {
                Some(head) => {
                    joined.push_str(head);
                    i += 1;
                    // Skip comments and blank lines inside the continuation.
                    while i < lines.len() {
                        let t = lines[i].trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i];
                }
                None => {
                    joined.push_str(cur);
                    i += 1;
                    break;
                }
            }
        }
        let mut ins = instruction(joined.trim(), line_no)?;
        if matches!(ins.keyword.as_str(), "RUN" | "COPY" | "ADD") && ins.json.is_none() {
            for (name, expand, chomp) in heredoc_names(&ins.args) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if chomp { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        closed = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !closed {
                    return Err(ParseError::UnterminatedHeredoc {
                        line: line_no,
                        name,
                    });
                }
                ins.heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        instructions.push(ins);
    }
    if instructions.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions,
    })
}

/// Splits one logical line into keyword, flags and rest.
fn instruction(line: &str, line_no: usize) -> Result<Instruction, ParseError> {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let keyword = word.to_ascii_uppercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(ParseError::UnknownInstruction {
            line: line_no,
            word: word.to_string(),
        });
    }
    let mut rest = rest.trim_start();
    let mut flags = Vec::new();
    // ONBUILD's flags belong to the instruction it wraps.
    if keyword != "ONBUILD" {
        while let Some(f) = rest.strip_prefix("--") {
            if f.is_empty() || f.starts_with(char::is_whitespace) {
                break;
            }
            let end = f.find(char::is_whitespace).unwrap_or(f.len());
            flags.push(format!("--{}", &f[..end]));
            rest = f[end..].trim_start();
        }
    }
    let args = rest.trim().to_string();
    let json = if args.starts_with('[') {
        serde_json::from_str::<Vec<String>>(&args).ok()
    } else {
        None
    };
    Ok(Instruction {
        original: line.to_string(),
        keyword,
        flags,
        args,
        json,
        heredocs: Vec::new(),
        line: line_no,
    })
}

/// The heredocs a line opens, in order: `<<EOF`, `<<-EOF` (tabs stripped), `<<"EOF"` (not
/// expanded).
fn heredoc_names(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(pos) = rest.find("<<") {
        let mut r = &rest[pos + 2..];
        let chomp = r.starts_with('-');
        if chomp {
            r = &r[1..];
        }
        let (quoted, r2) = match r.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &r[1..]),
            _ => (None, r),
        };
        let end = r2
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(r2.len());
        let name = &r2[..end];
        let mut after = &r2[end..];
        if let Some(q) = quoted {
            match after.strip_prefix(q) {
                Some(a) => after = a,
                None => {
                    rest = after;
                    continue;
                }
            }
        }
        if !name.is_empty() && name.chars().next().is_some_and(|c| !c.is_ascii_digit()) {
            out.push((name.to_string(), quoted.is_none(), chomp));
        }
        rest = after;
    }
    out
}

/// Removes the heredoc openers (`<<EOF`, `<<-"EOF"`) from a COPY/ADD's words, which stand
/// for files named by the next word.
pub fn is_heredoc_word(word: &str) -> Option<String> {
    let names = heredoc_names(word);
    (word.starts_with("<<") && names.len() == 1).then(|| names[0].0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_continuations_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\
             # a comment\n\
             FROM busybox AS base\n\
             \n\
             run echo one \\\n\
             # dropped\n\
               two\n\
             COPY --chown=1:2 --chmod=644 a b /dst/\n\
             CMD [\"sh\", \"-c\", \"echo hi\"]\n\
             ENTRYPOINT [not json\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let k: Vec<&str> = df.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(k, ["FROM", "RUN", "COPY", "CMD", "ENTRYPOINT"]);
        assert_eq!(df.instructions[1].args, "echo one two");
        assert_eq!(df.instructions[1].line, 5);
        assert_eq!(df.instructions[2].flags, ["--chown=1:2", "--chmod=644"]);
        assert_eq!(df.instructions[2].args, "a b /dst/");
        assert_eq!(
            df.instructions[3].json.as_deref(),
            Some(&["sh".to_string(), "-c".into(), "echo hi".into()][..])
        );
        assert_eq!(df.instructions[4].json, None);
    }

    #[test]
    fn escape_directive_and_errors() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, "dir c:\\   && echo");
        // A directive after a comment is only a comment.
        let df = parse("# hello\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(parse("# only a comment\n\n"), Err(ParseError::Empty));
        assert_eq!(
            parse("FROM x\nFROB y\n").unwrap_err().to_string(),
            "dockerfile parse error on line 2: unknown instruction: FROB"
        );
        assert!(matches!(
            parse("# escape=x\nFROM x"),
            Err(ParseError::BadEscape(_))
        ));
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho $A\nEOF\nCOPY <<-\"one\" /a <<two /b\n\tliteral $A\none\nsecond\ntwo\nRUN echo done\n",
        )
        .unwrap();
        let run = &df.instructions[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].content, "echo $A\n");
        assert!(run.heredocs[0].expand);
        let copy = &df.instructions[2];
        assert_eq!(copy.heredocs[0].name, "one");
        assert_eq!(copy.heredocs[0].content, "literal $A\n");
        assert!(!copy.heredocs[0].expand);
        assert_eq!(copy.heredocs[1].content, "second\n");
        assert_eq!(df.instructions[3].args, "echo done");
        assert!(matches!(
            parse("FROM x\nRUN <<EOF\nnever closed\n"),
            Err(ParseError::UnterminatedHeredoc { .. })
        ));
    }
}
