//! The `filters` query parameter: a JSON object of name → values, in the current
//! (`{"dangling":["true"]}`) or the old (`{"dangling":{"true":true}}`) encoding.

use std::collections::BTreeMap;

use crate::error::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Filters::default());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: expected a JSON object"))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            };
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }

    /// Refuses filter names outside `allowed`, with Docker's message.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A boolean filter such as `dangling`: `None` when absent, an error when not a boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name).first().map(String::as_str) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid filter '{name}={other}'"
            ))),
        }
    }

    /// Whether `labels` carry any `label!=key` / `label!=key=value` that prune filters exclude.
    pub fn labels_excluded(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label!").iter().any(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(l.as_str()),
        })
    }

    /// Whether `labels` satisfy every `label=key` / `label=key=value` filter.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label")
            .iter()
            .all(|want| match want.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
                None => labels.contains_key(want.as_str()),
            })
    }
}

/// `until` takes a Unix timestamp, an RFC 3339 time, or a Go duration like `24h` before now.
pub fn parse_until(u: &str) -> Result<i64, ApiError> {
    if let Ok(ts) = u.parse::<f64>() {
        return Ok(ts as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(u) {
        return Ok(t.timestamp());
    }
    let (num, unit) = u.split_at(u.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(u.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid filter 'until={u}'")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(ApiError::bad_request(format!("invalid filter 'until={u}'"))),
    };
    Ok(chrono::Utc::now().timestamp() - secs as i64)
}

/// Go's `path.Match` for reference filters: `*` and `?` do not cross `/`; `[…]` classes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                if n.is_empty() {
                    return false;
                }
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= n[0] && n[0] <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == n[0];
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && go(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_encodings() {
        let f = Filters::parse(Some(r#"{"dangling":["true"],"label":{"a=b":true}}"#)).unwrap();
        assert_eq!(f.bool("dangling").unwrap(), Some(true));
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(f.only(&["dangling"]).is_err());
        assert!(Filters::parse(Some("[1]")).is_err());
    }

    #[test]
    fn globs_like_go_path_match() {
        assert!(glob_match("busy*", "busybox:latest"));
        assert!(!glob_match("*", "library/busybox"));
        assert!(glob_match("*/*", "library/busybox"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^b]usybox", "busybox"));
    }
}
