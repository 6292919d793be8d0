//! Go's `filepath.Match` patterns (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), which `.dockerignore`,
//! COPY's sources and the shell's `${VAR#pattern}` use. Written here because the pattern
//! dialect is Go's, not a shell's or a regex crate's, and the three callers need exactly it.

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
}
