//! `.dockerignore`, read as the docker CLI reads it: one pattern per line, `#` comments,
//! patterns cleaned like Go's `filepath.Clean` with a leading `/` dropped, `!` exceptions, `**`
//! for any number of directories, later lines winning, and a directory's exclusion covering
//! what is under it.

use crate::glob;

#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    segments: Vec<String>,
    exclusion: bool,
}

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("illegal exclusion pattern: {0:?}")]
pub struct BadIgnore(pub String);

/// Go's `filepath.Clean` on a slash path, returning "." for nothing.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

impl Ignore {
    /// Reads a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Result<Ignore, BadIgnore> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(BadIgnore("!".into()));
                }
            }
            let cleaned = clean(p);
            let cleaned = cleaned.trim_start_matches('/');
            if cleaned.is_empty() || cleaned == "." {
                continue;
            }
            let segments: Vec<String> = cleaned.split('/').map(str::to_string).collect();
            for s in &segments {
                if s != "**" {
                    glob::matches(s, "", true).map_err(|_| BadIgnore(line.to_string()))?;
                }
            }
            patterns.push(Pattern {
                segments,
                exclusion,
            });
        }
        Ok(Ignore { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the context path `rel` (slash-separated, relative to the context's root) is
    /// left out: the last pattern that matches it or one of its parents decides.
    pub fn excludes(&self, rel: &str) -> bool {
        let cleaned = clean(rel);
        let path: Vec<&str> = cleaned
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            let hit = (1..=path.len()).any(|n| match_segments(&p.segments, &path[..n]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether some exception could re-include something under the excluded directory
    /// `rel`, so a walk must still look inside it.
    pub fn may_reinclude_under(&self, rel: &str) -> bool {
        let depth = rel.split('/').filter(|s| !s.is_empty()).count();
        self.patterns.iter().any(|p| {
            p.exclusion && (p.segments.len() > depth || p.segments.iter().any(|s| s == "**"))
        })
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|k| match_segments(rest, &path[k..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, prest)) => {
                glob::matches(first, seg, true).unwrap_or(false) && match_segments(rest, prest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_exceptions_and_parents() {
        let ig = Ignore::parse(
            "# comment\n/node_modules\n*.log\n!keep.log\nbuild/**/tmp\ndocs\n!docs/README.md\n**/*.bak\n./x/../secret\n",
        )
        .unwrap();
        assert!(ig.excludes("node_modules"));
        assert!(ig.excludes("node_modules/a/b.js"));
        assert!(ig.excludes("error.log"));
        assert!(!ig.excludes("keep.log"));
        assert!(
            !ig.excludes("sub/error.log"),
            "* does not cross directories"
        );
        assert!(ig.excludes("build/tmp"));
        assert!(ig.excludes("build/a/b/tmp/file"));
        assert!(ig.excludes("docs/guide.md"));
        assert!(!ig.excludes("docs/README.md"));
        assert!(ig.may_reinclude_under("docs"));
        assert!(ig.excludes("deep/down/x.bak"));
        assert!(ig.excludes("secret"));
        assert!(!ig.excludes("src/main.rs"));
        assert!(!ig.excludes("."));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Ignore::parse("[\n").is_err());
        assert!(Ignore::parse("!\n").is_err());
        assert!(Ignore::parse("\n\n  \n").unwrap().is_empty());
    }
}
