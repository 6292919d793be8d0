//! `ps` / `container ls`: the container list with docker's columns and cell formats (quoted,
//! truncated commands; grouped port ranges; names without their slash).

use clap::Args;
use serde_json::{json, Map, Value};

use berth_image::progress::human_size;

use crate::client::{q, Client};
use crate::config;
use crate::format::{ellipsis, go_time_string, since, Output};

use super::image::filters_json;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "", hide_default_value = true)]
    format: String,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    size: bool,
}

/// formatter.TruncateID: what follows any `algo:` prefix, cut to 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, r)| r);
    id.chars().take(12).collect()
}

/// Go's `strconv.Quote`: double quotes, with quotes, backslashes and non-printable characters
/// escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The COMMAND cell: cut to 20 characters unless `--no-trunc`, then quoted.
pub fn command_cell(command: &str, trunc: bool) -> String {
    if trunc {
        go_quote(&ellipsis(command, 20))
    } else {
        go_quote(command)
    }
}

/// formatter.DisplayablePorts: consecutive ports of the same kind grouped into ranges,
/// published ports as `ip:host->container/proto`, e.g. `0.0.0.0:80->80/tcp, 9988/tcp`.
pub fn displayable_ports(ports: &[Value]) -> String {
    struct P {
        ip: String,
        private: u16,
        public: u16,
        typ: String,
    }
    let mut list: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: p["IP"].as_str().unwrap_or("").to_string(),
            private: p["PrivatePort"].as_u64().unwrap_or(0) as u16,
            public: p["PublicPort"].as_u64().unwrap_or(0) as u16,
            typ: p["Type"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    list.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.typ).cmp(&(b.private, &b.ip, b.public, &b.typ))
    });
    let join_host = |ip: &str, port: &str| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let form_group = |key: &str, first: u16, last: u16| {
        let (ip, typ) = match key.rsplit_once('/') {
            Some((ip, t)) => (ip, t),
            None => ("", key),
        };
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if !ip.is_empty() {
            group = format!("{}->{group}", join_host(ip, &group));
        }
        format!("{group}/{typ}")
    };
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &list {
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host(&p.ip, &p.public.to_string()),
                    p.private,
                    p.typ
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2.wrapping_add(1) => g.2 = p.private,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for (k, first, last) in &groups {
        result.push(form_group(k, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

/// The IMAGE cell: a short ID when the container was created from an ID, else the familiar
/// name with its tag (a digest is dropped unless `--no-trunc`).
fn image_cell(c: &Value, trunc: bool) -> String {
    let image = c["Image"].as_str().unwrap_or("");
    if image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return image.to_string();
    }
    if truncate_id(c["ImageID"].as_str().unwrap_or("")) == truncate_id(image) {
        return truncate_id(image);
    }
    match berth_image::ImageRef::parse(image) {
        Ok(r) => match r.tag() {
            Some(t) => format!("{}:{t}", r.familiar_name()),
            None => r.familiar_name(),
        },
        Err(_) => image.to_string(),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// One container as the template sees it (docker's ContainerContext), and the labels map for
/// `{{.Label "key"}}`, which is a method there and so absent from `{{json .}}`.
pub fn row(c: &Value, trunc: bool) -> (Value, Value) {
    let id = c["Id"].as_str().unwrap_or("");
    let names: Vec<String> = strs(&c["Names"])
        .into_iter()
        .map(|n| n.chars().skip(1).collect())
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| vec![n.clone()])
            .unwrap_or(names)
    } else {
        names
    };
    let created = c["Created"].as_i64().unwrap_or(0);
    let labels = c["Labels"].as_object().cloned().unwrap_or_default();
    let mut label_list: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    label_list.sort();
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = match m["Name"].as_str() {
                Some(n) if !n.is_empty() => n,
                _ => m["Source"].as_str().unwrap_or(""),
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Driver"].as_str() == Some("local"))
        .count();
    let networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    let size_rw = c["SizeRw"].as_f64().unwrap_or(0.0);
    let size_root = c["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if size_root > 0.0 {
        format!(
            "{} (virtual {})",
            human_size(size_rw, 3),
            human_size(size_root, 3)
        )
    } else {
        human_size(size_rw, 3)
    };
    let platform = c["ImageManifestDescriptor"]["platform"].clone();
    // Keys in the order Go's json.Marshal gives a map: sorted.
    let r = json!({
        "Command": command_cell(c["Command"].as_str().unwrap_or(""), trunc),
        "CreatedAt": go_time_string(created),
        "ID": if trunc { truncate_id(id) } else { id.to_string() },
        "Image": image_cell(c, trunc),
        "Labels": label_list.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": platform,
        "Ports": displayable_ports(c["Ports"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        "RunningFor": since(created),
        "Size": size,
        "State": c["State"].as_str().unwrap_or(""),
        "Status": c["Status"].as_str().unwrap_or(""),
    });
    (r, Value::Object(labels))
}

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID",
        "RunningFor" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "LocalVolumes" => "LOCAL VOLUMES",
        other => return other.to_uppercase(),
    }
    .to_string()
}

/// The `raw` format, which uses a template function (`pad`) berth's engine leaves out.
fn raw_block(r: &Value, size: bool) -> String {
    let g = |k: &str| r[k].as_str().unwrap_or("").to_string();
    // The template's `pad` adds the separating space only to a non-empty value.
    let pad = |k: &str| {
        let v = g(k);
        if v.is_empty() {
            v
        } else {
            format!(" {v}")
        }
    };
    let mut s = format!(
        "container_id: {}\nimage: {}\ncommand: {}\ncreated_at: {}\nstate:{}\nstatus:{}\nnames: {}\nlabels:{}\nports:{}\n",
        g("ID"), g("Image"), g("Command"), g("CreatedAt"), pad("State"), pad("Status"), g("Names"), pad("Labels"), pad("Ports")
    );
    if size {
        s.push_str(&format!("size: {}\n", g("Size")));
    }
    s
}

/// `ps`: the list query (sizes only when shown), then the rows in the chosen format.
pub async fn ps(client: &Client, a: PsArgs) -> anyhow::Result<u8> {
    let mut format = a.format.clone();
    if format.is_empty() {
        format = config::setting("psFormat").unwrap_or_default();
    } else if a.quiet {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let default_table = if a.size {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let output = Output::new(Some(&format), default_table)?;
    let mut size = a.size;
    // Sizes cost the daemon a walk of every container's files: ask only when shown (`{{json .}}`
    // shows every field).
    let shown = |f: &String| f == "Size" || f == ".";
    if !format.is_empty() && !a.quiet && !size && output.fields().iter().any(shown) {
        size = true;
    }
    let mut limit = a.last;
    if a.latest && limit == -1 {
        limit = 1;
    }
    let mut query = Vec::new();
    if a.all {
        query.push("all=1".to_string());
    }
    if !a.filter.is_empty() {
        query.push(format!("filters={}", q(&filters_json(&a.filter, &[])?)));
    }
    if limit > 0 {
        query.push(format!("limit={limit}"));
    }
    if size {
        query.push("size=1".into());
    }
    let path = if query.is_empty() {
        "/containers/json".to_string()
    } else {
        format!("/containers/json?{}", query.join("&"))
    };
    let list = client.get_json(&path).await?;
    let trunc = !a.no_trunc;
    let rows: Vec<(Value, Value)> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| row(c, trunc))
        .collect();
    if a.quiet {
        for (r, _) in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    if format.trim() == "raw" {
        for (r, _) in &rows {
            println!("{}", raw_block(r, size));
        }
        return Ok(0);
    }
    // Templates may call `.Label "key"`; see format::strip_methods.
    let with_label: Vec<Value> = rows
        .into_iter()
        .map(|(mut r, labels)| {
            let obj: &mut Map<String, Value> = r.as_object_mut().expect("row is an object");
            obj.insert("@Label".into(), labels);
            r
        })
        .collect();
    print!("{}", output.render(&with_label, header)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quoted_and_cut() {
        assert_eq!(
            command_cell("sh -c 'echo to-stdout; echo to-stderr >&2; exit 3'", true),
            "\"sh -c 'echo to-stdo…\""
        );
        assert_eq!(command_cell("sleep 1000", true), "\"sleep 1000\"");
        assert_eq!(
            command_cell("sh -c \"a\tb\"", false),
            "\"sh -c \\\"a\\tb\\\"\""
        );
        assert_eq!(command_cell("", true), "\"\"");
    }

    #[test]
    fn ports_grouped_like_docker() {
        let p = |ip: &str, private: u16, public: u16, t: &str| json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": t});
        assert_eq!(
            displayable_ports(&[
                p("", 9988, 0, "tcp"),
                p("0.0.0.0", 80, 8080, "tcp"),
                p("", 53, 0, "udp"),
                p("", 54, 0, "udp"),
                p("0.0.0.0", 443, 443, "tcp"),
                p("::", 80, 8080, "tcp"),
            ]),
            "53-54/udp, 0.0.0.0:443->443/tcp, 9988/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn rows_like_container_context() {
        let c = json!({
            "Id": "991fc93390eaa5d1a880db36df00e8df068d62647b696115036d91d6465f2e78",
            "Names": ["/hx28", "/other/alias"], "Image": "docker.io/library/busybox:latest",
            "ImageID": "sha256:2814f8265684024df8beb3c2438a3bab43a23e6139de7070b5ce5c0ccd2fe5ac",
            "Command": "sleep 1000", "Created": 0, "Ports": [], "Labels": {"b": "2", "a": "1"},
            "State": "running", "Status": "Up 2 seconds", "SizeRw": 12, "SizeRootFs": 4400000,
            "NetworkSettings": {"Networks": {"bridge": {}}},
            "Mounts": [{"Name": "0123456789abcdef0123", "Driver": "local"}, {"Source": "/tmp"}]
        });
        let (r, labels) = row(&c, true);
        assert_eq!(r["ID"], "991fc93390ea");
        assert_eq!(r["Names"], "hx28");
        assert_eq!(r["Image"], "busybox:latest");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Size"], "12B (virtual 4.4MB)");
        assert_eq!(r["Networks"], "bridge");
        assert_eq!(r["Mounts"], "0123456789abcd…,/tmp");
        assert_eq!(r["LocalVolumes"], "1");
        assert_eq!(labels["a"], "1");
        let (full, _) = row(&c, false);
        assert_eq!(full["Names"], "hx28,other/alias");
        let by_id = json!({"Image": "sha256:2814f8265684024df8beb3c2438a3bab43a23e6139de7070b5ce5c0ccd2fe5ac",
            "ImageID": "sha256:2814f8265684024df8beb3c2438a3bab43a23e6139de7070b5ce5c0ccd2fe5ac"});
        assert_eq!(image_cell(&by_id, true), "2814f8265684");
        assert_eq!(image_cell(&json!({"Image": "busybox"}), true), "busybox");
    }
}
