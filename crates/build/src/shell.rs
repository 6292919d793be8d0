//! Word processing and variable expansion as the Dockerfile frontend does it for ADD, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and flags: quotes, the
//! escape character, `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`,
//! `${VAR:?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`.
//! Unset variables expand to nothing. This is not a shell: RUN's text goes to the image's shell.

use crate::glob;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShellError {
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    #[error("missing ':' in substitution")]
    BadSubstitution,
    #[error("{0}: {1}")]
    Required(String, String),
    #[error("invalid pattern in substitution")]
    BadPattern,
}

/// The variables an expansion sees, in Dockerfile order (later wins).
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// Expands `word` into one string (quotes removed, no splitting).
pub fn process_word(word: &str, vars: &dyn Vars, escape: char) -> Result<String, ShellError> {
    Ok(Lexer::new(word, vars, escape).process(None)?.0)
}

/// Expands `word` and splits it into words on unquoted whitespace; unquoted expansions are
/// split too, quoted ones are not.
pub fn process_words(word: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, ShellError> {
    Ok(Lexer::new(word, vars, escape).process(None)?.1.finish())
}

/// Words under construction: whitespace from the source or from an unquoted expansion ends a
/// word, quoted text never does.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    cur: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word {
                self.words.push(std::mem::take(&mut self.cur));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.cur.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.cur.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if self.in_word {
            self.words.push(self.cur);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a dyn Vars,
    escape: char,
}

impl<'a> Lexer<'a> {
    fn new(word: &str, vars: &'a dyn Vars, escape: char) -> Self {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            vars,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end.
    fn process(&mut self, stop: Option<char>) -> Result<(String, Words), ShellError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words));
            }
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    if c == self.escape {
                        let Some(e) = self.next() else { break };
                        words.add_raw_char(e);
                        result.push(e);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(ShellError::Unterminated("'}'"));
        }
        Ok((result, words))
    }

    fn single_quoted(&mut self) -> Result<String, ShellError> {
        self.next();
        let mut s = String::new();
        loop {
            match self.next() {
                None => return Err(ShellError::Unterminated("single-quote")),
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ShellError> {
        self.next();
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(ShellError::Unterminated("double-quote")),
                Some('"') => {
                    self.next();
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) => {
                    self.next();
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(e) if e == '"' || e == '$' || e == self.escape => {
                                self.next();
                                s.push(e);
                            }
                            Some(_) => s.push(c),
                        }
                    } else {
                        s.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.next();
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ShellError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.vars.get(&name).unwrap_or_default());
        }
        self.next();
        let name = self.name();
        let value = self.vars.get(&name);
        let Some(op) = self.next() else {
            return Err(ShellError::Unterminated("'}'"));
        };
        match op {
            '}' => Ok(value.unwrap_or_default()),
            ':' => {
                let Some(m) = self.next() else {
                    return Err(ShellError::Unterminated("'}'"));
                };
                let (word, _) = self.process(Some('}'))?;
                let set = value.as_deref().is_some_and(|v| !v.is_empty());
                match m {
                    '-' => Ok(if set { value.unwrap() } else { word }),
                    '+' => Ok(if set { word } else { String::new() }),
                    '?' if set => Ok(value.unwrap()),
                    '?' => Err(ShellError::Required(
                        name,
                        if word.is_empty() {
                            "is not allowed to be unset".into()
                        } else {
                            word
                        },
                    )),
                    _ => Err(ShellError::BadSubstitution),
                }
            }
            '-' | '+' | '?' => {
                let (word, _) = self.process(Some('}'))?;
                match op {
                    '-' => Ok(value.unwrap_or(word)),
                    '+' => Ok(if value.is_some() { word } else { String::new() }),
                    _ => value.ok_or(ShellError::Required(
                        name,
                        if word.is_empty() {
                            "is not allowed to be unset".into()
                        } else {
                            word
                        },
                    )),
                }
            }
            '#' | '%' => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.next();
                }
                let (pattern, _) = self.process(Some('}'))?;
                trim_pattern(&value.unwrap_or_default(), &pattern, op == '#', longest)
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let (pattern, _) = self
                    .process(Some('/'))
                    .map_err(|_| ShellError::Unterminated("'/'"))?;
                let (replacement, _) = self.process(Some('}'))?;
                replace_pattern(&value.unwrap_or_default(), &pattern, &replacement, all)
            }
            _ => Err(ShellError::BadSubstitution),
        }
    }
}

/// `${v#p}` (shortest prefix), `${v##p}`, `${v%p}` (shortest suffix), `${v%%p}`.
fn trim_pattern(v: &str, pattern: &str, prefix: bool, longest: bool) -> Result<String, ShellError> {
    let bounds: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let try_cut = |i: usize| -> Result<Option<String>, ShellError> {
        let (part, keep) = if prefix {
            (&v[..i], &v[i..])
        } else {
            (&v[i..], &v[..i])
        };
        let hit = glob::matches(pattern, part, false).map_err(|_| ShellError::BadPattern)?;
        Ok(hit.then(|| keep.to_string()))
    };
    // Shortest first means the fewest characters cut.
    let order: Vec<usize> = match (prefix, longest) {
        (true, false) => bounds.clone(),
        (true, true) => bounds.iter().rev().copied().collect(),
        (false, false) => bounds.iter().rev().copied().collect(),
        (false, true) => bounds.clone(),
    };
    for i in order {
        if let Some(s) = try_cut(i)? {
            return Ok(s);
        }
    }
    Ok(v.to_string())
}

/// `${v/p/r}`: the first (or with `//` every) longest match of `p` replaced by `r`.
fn replace_pattern(v: &str, pattern: &str, repl: &str, all: bool) -> Result<String, ShellError> {
    let mut out = String::new();
    let mut rest = v;
    loop {
        let found = (0..=rest.len())
            .filter(|&i| rest.is_char_boundary(i))
            .find_map(|start| {
                (start..=rest.len())
                    .rev()
                    .filter(|&e| e > start && rest.is_char_boundary(e))
                    .find(|&end| glob::matches(pattern, &rest[start..end], false) == Ok(true))
                    .map(|end| (start, end))
            });
        match found {
            Some((s, e)) => {
                out.push_str(&rest[..s]);
                out.push_str(repl);
                rest = &rest[e..];
                if !all || rest.is_empty() {
                    break;
                }
            }
            None => break,
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        [
            ("A", "apple"),
            ("SP", "two words"),
            ("E", ""),
            ("P", "/usr/local/bin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn w(s: &str) -> String {
        process_word(s, &vars(), '\\').unwrap()
    }

    #[test]
    fn expansion_forms() {
        assert_eq!(w("$A"), "apple");
        assert_eq!(w("${A}pie"), "applepie");
        assert_eq!(w("$Apie"), "");
        assert_eq!(w("${NOPE:-def}"), "def");
        assert_eq!(w("${E:-def}"), "def");
        assert_eq!(w("${E-def}"), "");
        assert_eq!(w("${A:+set}"), "set");
        assert_eq!(w("${NOPE:+set}"), "");
        assert_eq!(w("${E+set}"), "set");
        assert_eq!(w("${P#*/}"), "usr/local/bin");
        assert_eq!(w("${P##*/}"), "bin");
        assert_eq!(w("${P%/*}"), "/usr/local");
        assert_eq!(w("${P%%/l*}"), "/usr");
        assert_eq!(w("${A/p/P}"), "aPple");
        assert_eq!(w("${A//p/P}"), "aPPle");
        assert_eq!(w("${NOPE:-${A}}"), "apple");
        assert_eq!(w("cost $"), "cost $");
        assert!(matches!(
            process_word("${NOPE:?needed}", &vars(), '\\'),
            Err(ShellError::Required(..))
        ));
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A is \\$A\""), "apple is $A");
        assert_eq!(w("\"a\\b\""), "a\\b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(process_word("`$A", &vars(), '`').unwrap(), "$A");
        assert_eq!(
            process_word("'open", &vars(), '\\'),
            Err(ShellError::Unterminated("single-quote"))
        );
        assert!(process_word("${A", &vars(), '\\').is_err());
    }

    #[test]
    fn words_split_on_unquoted_whitespace_and_expansions() {
        let ws = |s: &str| process_words(s, &vars(), '\\').unwrap();
        assert_eq!(ws("a  b"), ["a", "b"]);
        assert_eq!(ws("x=$SP"), ["x=two", "words"]);
        assert_eq!(ws("x=\"$SP\" y"), ["x=two words", "y"]);
        assert_eq!(ws("a\\ b"), ["a b"]);
        assert_eq!(ws("''"), [""]);
    }
}
