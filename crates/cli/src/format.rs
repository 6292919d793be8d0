//! What the docker CLI prints, reproduced: Go-template `--format` strings, tables aligned as
//! Go's `text/tabwriter` aligns them (min width 10, padding 3), and Docker's human units.
//!
//! The template engine is a small subset of Go's `text/template`, written here because no crate
//! implements Go's template semantics on JSON values: field chains (`.A.B`), `json`, `join`,
//! `upper`, `lower`, `title`, `index`, `len`, `println`, `range … end` and `if … else … end`.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("template parsing error: {0}")]
pub struct TemplateError(String);

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Token>),
    Range(Vec<Token>, Vec<Node>),
    If(Vec<Token>, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(Vec<String>),
    Dot,
    Str(String),
    Ident(String),
}

/// A parsed Go template. The flag marks a template for list rows (see [`Template::for_rows`]).
#[derive(Debug, Clone)]
pub struct Template(Vec<Node>, bool);

/// Where an action is evaluated: in a list-row template or not, at the top level or inside a
/// `range`.
#[derive(Debug, Clone, Copy)]
struct Scope {
    rows: bool,
    root: bool,
}

/// The docker CLI's list contexts (containers, images) are Go objects whose methods may take
/// arguments (`{{.Label "key"}}`). A row here keeps such a method's data under `@Name`: reached
/// from templates as `.Name "arg"`, left out of `{{json .}}`.
pub fn strip_methods(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('@'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            pieces.push((false, rest[..start].to_string()));
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError("unclosed action".into()))?;
            pieces.push((
                true,
                after[..end]
                    .trim()
                    .trim_start_matches('-')
                    .trim_end_matches('-')
                    .trim()
                    .to_string(),
            ));
            rest = &after[end + 2..];
        }
        pieces.push((false, rest.to_string()));
        let mut iter = pieces.into_iter().peekable();
        let (nodes, term) = parse_nodes(&mut iter)?;
        if let Some(term) = term {
            return Err(TemplateError(format!("unexpected {{{{{term}}}}}")));
        }
        Ok(Template(nodes, false))
    }

    /// Marks a template as rendering list rows: `{{json .}}` then prints the row as the docker
    /// CLI marshals its list contexts (methods left out, HTML characters escaped).
    pub fn for_rows(mut self) -> Template {
        self.1 = true;
        self
    }

    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        let scope = Scope {
            rows: self.1,
            root: true,
        };
        render_nodes(&self.0, data, &mut out, scope)?;
        Ok(out)
    }

    /// The field names used at the top level, in order, for table headers.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.0 {
            if let Node::Action(tokens) = n {
                for t in tokens {
                    match t {
                        Token::Field(path) => out.push(path.join(".")),
                        Token::Dot => out.push(".".into()),
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

type Pieces = std::iter::Peekable<std::vec::IntoIter<(bool, String)>>;

fn parse_nodes(iter: &mut Pieces) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some((is_action, text)) = iter.next() {
        if !is_action {
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            continue;
        }
        let tokens = tokenize(&text)?;
        match tokens.first() {
            Some(Token::Ident(k)) if k == "end" || k == "else" => {
                return Ok((nodes, Some(k.clone())))
            }
            Some(Token::Ident(k)) if k == "range" => {
                let (body, term) = parse_nodes(iter)?;
                if term.as_deref() != Some("end") {
                    return Err(TemplateError("range without end".into()));
                }
                nodes.push(Node::Range(tokens[1..].to_vec(), body));
            }
            Some(Token::Ident(k)) if k == "if" => {
                let (then, term) = parse_nodes(iter)?;
                let otherwise = match term.as_deref() {
                    Some("end") => Vec::new(),
                    Some("else") => {
                        let (e, t2) = parse_nodes(iter)?;
                        if t2.as_deref() != Some("end") {
                            return Err(TemplateError("if without end".into()));
                        }
                        e
                    }
                    _ => return Err(TemplateError("if without end".into())),
                };
                nodes.push(Node::If(tokens[1..].to_vec(), then, otherwise));
            }
            _ => nodes.push(Node::Action(tokens)),
        }
    }
    Ok((nodes, None))
}

fn tokenize(s: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(o) => v.push(o),
                        None => {}
                    },
                    '"' => break,
                    o => v.push(o),
                }
            }
            out.push(Token::Str(v));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(match word.strip_prefix('.') {
                Some("") => Token::Dot,
                Some(path) => Token::Field(path.split('.').map(str::to_string).collect()),
                None => Token::Ident(word),
            });
        }
    }
    Ok(out)
}

fn lookup(data: &Value, path: &[String]) -> Value {
    let mut cur = data;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn eval(tokens: &[Token], data: &Value, scope: Scope) -> Result<Value, TemplateError> {
    let arg = |t: &Token| -> Result<Value, TemplateError> {
        Ok(match t {
            Token::Dot => data.clone(),
            Token::Field(p) => lookup(data, p),
            Token::Str(s) => Value::String(s.clone()),
            Token::Ident(i) => return Err(TemplateError(format!("function {i:?} not defined"))),
        })
    };
    match tokens.first() {
        None => Ok(Value::String(String::new())),
        Some(Token::Ident(f)) => {
            let args: Vec<Value> = tokens[1..].iter().map(arg).collect::<Result<_, _>>()?;
            let first = args.first().cloned().unwrap_or(Value::Null);
            Ok(match f.as_str() {
                "json" if scope.rows && scope.root && tokens.get(1) == Some(&Token::Dot) => {
                    Value::String(go_json(&strip_methods(&first)))
                }
                "json" => Value::String(serde_json::to_string(&first).unwrap_or_default()),
                "upper" => Value::String(go_string(&first).to_uppercase()),
                "lower" => Value::String(go_string(&first).to_lowercase()),
                "title" => Value::String(
                    go_string(&first)
                        .split(' ')
                        .map(capitalize)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                "len" => Value::from(match &first {
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    Value::String(s) => s.len(),
                    _ => 0,
                }),
                "join" => {
                    let sep = args.get(1).map(go_string).unwrap_or_default();
                    let items: Vec<String> = first
                        .as_array()
                        .map(|a| a.iter().map(go_string).collect())
                        .unwrap_or_default();
                    Value::String(items.join(&sep))
                }
                "index" => {
                    let key = args.get(1).cloned().unwrap_or(Value::Null);
                    match (&first, &key) {
                        (Value::Object(o), Value::String(k)) => {
                            o.get(k).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Array(a), Value::String(k)) => k
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| a.get(i).cloned())
                            .unwrap_or(Value::Null),
                        _ => Value::Null,
                    }
                }
                "println" => {
                    Value::String(args.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n")
                }
                "print" => Value::String(args.iter().map(go_string).collect::<Vec<_>>().join(" ")),
                other => return Err(TemplateError(format!("function {other:?} not defined"))),
            })
        }
        Some(t) if tokens.len() == 1 => arg(t),
        // `.Label "key"`: the docker CLI's list contexts have methods taking a key; here they
        // are maps on the row (or, in a table header, the column title).
        Some(Token::Field(p)) if tokens.len() == 2 => {
            let key = go_string(&arg(&tokens[1])?);
            let mut method = p.clone();
            if let Some(last) = method.last_mut() {
                *last = format!("@{last}");
            }
            let v = match lookup(data, p) {
                Value::Null => lookup(data, &method),
                v => v,
            };
            match v {
                Value::Object(o) => {
                    Ok(o.get(&key).cloned().unwrap_or(Value::String(String::new())))
                }
                // A table header: docker's shows the argument there.
                Value::String(_) => Ok(Value::String(key)),
                _ => Err(TemplateError("can't give argument to non-function".into())),
            }
        }
        Some(_) => Err(TemplateError("can't give argument to non-function".into())),
    }
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn render_nodes(
    nodes: &[Node],
    data: &Value,
    out: &mut String,
    scope: Scope,
) -> Result<(), TemplateError> {
    let inner = Scope {
        root: false,
        ..scope
    };
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(tokens) => out.push_str(&go_string(&eval(tokens, data, scope)?)),
            Node::Range(tokens, body) => match eval(tokens, data, scope)? {
                Value::Array(items) => {
                    for item in &items {
                        render_nodes(body, item, out, inner)?;
                    }
                }
                Value::Object(map) => {
                    for v in map.values() {
                        render_nodes(body, v, out, inner)?;
                    }
                }
                _ => {}
            },
            Node::If(tokens, then, otherwise) => {
                if truthy(&eval(tokens, data, scope)?) {
                    render_nodes(then, data, out, scope)?;
                } else {
                    render_nodes(otherwise, data, out, scope)?;
                }
            }
        }
    }
    Ok(())
}

/// How Go's `fmt` prints a value in a template: strings bare, arrays as `[a b]`, maps as
/// `map[k:v]`, null as `<no value>`.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_string(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Aligns tab-separated rows as the docker CLI's tabwriter does: each column as wide as its
/// widest cell plus 3, at least 10; the last cell of a row is not padded.
pub fn tabwrite(rows: &[String]) -> String {
    let split: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    tabwrite_cells(&split, 10)
}

/// [`tabwrite`] for rows already split into cells, with the columns' minimum width.
pub fn tabwrite_cells<S: AsRef<str>>(split: &[Vec<S>], min_width: usize) -> String {
    let cols = split.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in split {
        for (i, cell) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            widths[i] = widths[i]
                .max(cell.as_ref().chars().count() + 3)
                .max(min_width);
        }
    }
    let mut out = String::new();
    for r in split {
        for (i, cell) in r.iter().enumerate() {
            let cell = cell.as_ref();
            out.push_str(cell);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// How a list command prints its rows: a table (default or `table …`), a raw template, or JSON.
pub enum Output {
    Table(Template),
    Raw(Template),
    /// `--format json`: each row as Go's `json.Marshal` writes it.
    Json,
}

/// JSON as Go's `json.Marshal` writes it: `<`, `>`, `&` and the line/paragraph separators
/// escaped, as the docker CLI's `--format json` prints them.
pub fn go_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl Output {
    /// Interprets `--format`: empty means the command's default table; `json` is one JSON object
    /// per line; `table TEMPLATE` is a table with headers; anything else is a raw template.
    pub fn new(format: Option<&str>, default_table: &str) -> Result<Output, TemplateError> {
        match format.map(str::trim) {
            None | Some("") | Some("table") => {
                Ok(Output::Table(Template::parse(default_table)?.for_rows()))
            }
            Some("json") => Ok(Output::Json),
            Some(f) => match f.strip_prefix("table") {
                Some(rest) if rest.starts_with(char::is_whitespace) => Ok(Output::Table(
                    Template::parse(&unescape(rest.trim_start()))?.for_rows(),
                )),
                _ => Ok(Output::Raw(Template::parse(&unescape(f))?.for_rows())),
            },
        }
    }

    /// The top-level fields the template uses (`ps` asks for sizes only when `.Size` is shown).
    pub fn fields(&self) -> Vec<String> {
        match self {
            Output::Table(t) | Output::Raw(t) => t.fields(),
            Output::Json => Vec::new(),
        }
    }

    /// Renders `rows`; `header` maps a field name to its column title.
    pub fn render(
        &self,
        rows: &[Value],
        header: impl Fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        match self {
            Output::Json => Ok(rows
                .iter()
                .map(|r| go_json(&strip_methods(r)) + "\n")
                .collect()),
            Output::Raw(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.render(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Output::Table(t) => {
                let mut header_row = Value::Object(Default::default());
                for f in t.fields() {
                    set_path(&mut header_row, &f, Value::String(header(&f)));
                }
                let mut lines = vec![t.render(&header_row)?];
                for r in rows {
                    lines.push(t.render(r)?);
                }
                Ok(tabwrite(&lines))
            }
        }
    }
}

fn set_path(v: &mut Value, path: &str, val: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let obj = cur.as_object_mut().expect("object");
        if i + 1 == parts.len() {
            obj.insert(p.to_string(), val);
            return;
        }
        cur = obj
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// The docker CLI turns the two-character sequences `\t` and `\n` in `--format` into real ones.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// go-units `HumanDuration`, as in `CREATED` columns ("3 days", "About an hour").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// "N units ago" from a Unix timestamp.
pub fn since(ts: i64) -> String {
    human_duration(chrono::Utc::now().timestamp() - ts) + " ago"
}

/// Go's `time.Unix(ts, 0).String()` in the local zone: `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(ts: i64) -> String {
    // SAFETY: localtime_r fills a zeroed tm we own; tm_zone points into libc's static zone
    // data, which outlives this call.
    unsafe {
        let t: libc::time_t = ts as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let off = tm.tm_gmtoff;
        let sign = if off < 0 { '-' } else { '+' };
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}{:02} {zone}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            off.abs() / 3600,
            (off.abs() % 3600) / 60
        )
    }
}

/// Docker's `stringutils.Ellipsis`: cut to `max` characters, the last one an ellipsis.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_go_templates() {
        let v = json!({"Repository": "busybox", "Tag": "latest", "Tags": ["a", "b"], "Config": {"Env": ["X=1"]}, "Labels": {"k": "v"}});
        let t = |s: &str| Template::parse(s).unwrap().render(&v).unwrap();
        assert_eq!(t("{{.Repository}}:{{.Tag}}"), "busybox:latest");
        assert_eq!(t("{{json .Config.Env}}"), r#"["X=1"]"#);
        assert_eq!(t("{{.Tags}}"), "[a b]");
        assert_eq!(t("{{range .Tags}}<{{.}}>{{end}}"), "<a><b>");
        assert_eq!(t("{{join .Tags \",\"}}"), "a,b");
        assert_eq!(t("{{index .Labels \"k\"}}"), "v");
        assert_eq!(t("{{if .Missing}}yes{{else}}no{{end}}"), "no");
        assert_eq!(t("{{upper .Tag}}"), "LATEST");
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{nosuch .A}}")
            .unwrap()
            .render(&v)
            .is_err());
    }

    #[test]
    fn tables_align_like_tabwriter() {
        let out = tabwrite(&[
            "REPOSITORY\tTAG\tIMAGE ID".into(),
            "127.0.0.1:5000/library/twolayer\tlatest\t979148d644e2".into(),
        ]);
        assert_eq!(out, "REPOSITORY                        TAG       IMAGE ID\n127.0.0.1:5000/library/twolayer   latest    979148d644e2\n");
    }

    #[test]
    fn table_and_json_formats() {
        let rows = vec![json!({"ID": "abc", "Size": "1MB"})];
        let o = Output::new(Some("table {{.ID}}\\t{{.Size}}"), "").unwrap();
        assert_eq!(
            o.render(&rows, |f| f.to_uppercase()).unwrap(),
            "ID        SIZE\nabc       1MB\n"
        );
        let o = Output::new(Some("json"), "").unwrap();
        assert_eq!(
            o.render(&rows, |f| f.into()).unwrap(),
            "{\"ID\":\"abc\",\"Size\":\"1MB\"}\n"
        );
        let rows = vec![json!({"Repository": "<none>", "Ports": "a->b & c"})];
        assert_eq!(
            o.render(&rows, |f| f.into()).unwrap(),
            "{\"Repository\":\"\\u003cnone\\u003e\",\"Ports\":\"a-\\u003eb \\u0026 c\"}\n"
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(26 * 365 * 86400 + 86400 * 10), "26 years");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }

    #[test]
    fn label_lookups_and_local_times() {
        let v = json!({"@Label": {"k": "v"}, "Ports": "a->b"});
        let t = |s: &str| Template::parse(s).unwrap().render(&v).unwrap();
        assert_eq!(t("{{.Label \"k\"}}"), "v");
        assert_eq!(t("{{.Label \"missing\"}}"), "");
        let header = json!({"Label": "LABEL"});
        assert_eq!(
            Template::parse("{{.Label \"k\"}}")
                .unwrap()
                .render(&header)
                .unwrap(),
            "k"
        );
        let rows = Template::parse("{{json .}}").unwrap().for_rows();
        assert_eq!(rows.render(&v).unwrap(), "{\"Ports\":\"a-\\u003eb\"}");
        let plain = Template::parse("{{json .Ports}}").unwrap().for_rows();
        assert_eq!(plain.render(&v).unwrap(), "\"a->b\"");
        let s = go_time_string(0);
        assert!(s.len() >= "1970-01-01 00:00:00 +0000 ".len(), "{s}");
    }
}
