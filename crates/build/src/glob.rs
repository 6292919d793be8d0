//! Go's `filepath.Match` patterns (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), which `.dockerignore`,
//! COPY's sources and the shell's `${VAR#pattern}` use. Written here because the pattern
//! dialect is Go's, not a shell's or a regex crate's, and the three callers need exactly it.

use std::os::fd::OwnedFd;

use berth_volume::tree;
use nix::fcntl::OFlag;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Whether `name` matches `pattern` as `filepath.Match` decides: `*` and `?` never match a
/// `/` when `slash_is_separator`.
pub fn matches(pattern: &str, name: &str, slash_is_separator: bool) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    check(&p)?;
    Ok(match_from(&p, &n, slash_is_separator))
}

/// Refuses malformed classes and trailing escapes, as Go does even when no name reaches them.
fn check(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, len) = class(&p[i..], ' ')?;
                i += len;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn match_from(p: &[char], n: &[char], sep: bool) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => {
            // Try every split; `*` stops at a separator.
            for k in 0..=n.len() {
                if match_from(rest, &n[k..], sep) {
                    return true;
                }
                if k < n.len() && sep && n[k] == '/' {
                    return false;
                }
            }
            false
        }
        '?' => match n.split_first() {
            Some((&c, nrest)) if !(sep && c == '/') => match_from(rest, nrest, sep),
            _ => false,
        },
        '[' => match n.split_first() {
            Some((&c, nrest)) if !(sep && c == '/') => match class(p, c) {
                Ok((true, len)) => match_from(&p[len..], nrest, sep),
                _ => false,
            },
            _ => false,
        },
        '\\' => match (p.get(1), n.split_first()) {
            (Some(&e), Some((&c, nrest))) if e == c => match_from(&p[2..], nrest, sep),
            _ => false,
        },
        lit => match n.split_first() {
            Some((&c, nrest)) if c == lit => match_from(rest, nrest, sep),
            _ => false,
        },
    }
}

/// Reads the class at the start of `p` (which starts with `[`): whether `c` is in it, and the
/// class's length in the pattern.
fn class(p: &[char], c: char) -> Result<(bool, usize), BadPattern> {
    let mut i = 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => {
                i += 1;
                break;
            }
            _ => {}
        }
        first = false;
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Ok((matched != negated, i))
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some('-') | Some(']') | None => Err(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

/// Whether a pattern has any of the characters that make it more than a literal path.
pub fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// The paths under `root` that `pattern` matches, as Go's `filepath.Glob` finds them: one
/// directory listing per component that has wildcards, never a walk of the whole tree (the
/// root may be an image's). Every directory is opened inside `root`, so no symlink leads
/// out. Paths come back relative, slash-separated and sorted.
pub fn in_root(root: &OwnedFd, pattern: &str) -> Result<Vec<String>, GlobError> {
    let mut found = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &found {
            let join = |n: &str| {
                if dir.is_empty() {
                    n.to_string()
                } else {
                    format!("{dir}/{n}")
                }
            };
            if !has_meta(part) {
                if tree::open_in_root(root, &join(part), OFlag::O_PATH | OFlag::O_NOFOLLOW)?
                    .is_some()
                {
                    next.push(join(part));
                }
                continue;
            }
            let Some(fd) = tree::open_in_root(root, dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .or_else(|e| match e.raw_os_error() {
                    Some(libc::ENOTDIR) => Ok(None),
                    _ => Err(e),
                })?
            else {
                continue;
            };
            let mut names: Vec<String> = tree::entries(&fd)?
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                if matches(part, &n, true)? {
                    next.push(join(&n));
                }
            }
        }
        found = next;
    }
    Ok(found)
}

#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error(transparent)]
    Pattern(#[from] BadPattern),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match_cases() {
        let cases = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("*x", "xxx", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n, true), Ok(want), "{p} {n}");
        }
        for bad in ["[", "[^", "[^bc", "a[", "ab[-c]", "a\\", "[x-]"] {
            assert_eq!(matches(bad, "a", true), Err(BadPattern), "{bad}");
        }
        assert!(matches("a*", "ab/c", false).unwrap());
    }

    #[test]
    fn globs_in_a_root_list_only_the_directories_they_reach() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "out/a.txt",
            "out/b.txt",
            "out/c.log",
            "out/sub/d.txt",
            "other/e.txt",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        // A link out of the root is looked up inside it, where it leads nowhere.
        std::os::unix::fs::symlink("/etc", dir.path().join("out/etc")).unwrap();
        let root = tree::open_dir(dir.path()).unwrap();
        let g = |p: &str| in_root(&root, p).unwrap();
        assert_eq!(g("out/*.txt"), ["out/a.txt", "out/b.txt"]);
        assert_eq!(g("/*/*.txt"), ["other/e.txt", "out/a.txt", "out/b.txt"]);
        assert_eq!(g("out/s?b/*"), ["out/sub/d.txt"]);
        assert_eq!(g("out/etc/pass*"), Vec::<String>::new());
        assert!(g("nothere/*").is_empty());
        assert!(in_root(&root, "out/[").is_err());
    }
}
