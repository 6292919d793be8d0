//! Container endpoints: create, list, inspect, the lifecycle verbs, rename, delete, prune.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_container::state::{format_timestamp, status_text, ContainerStatus};
use berth_container::{Container, ContainerError, CreateBody};
use berth_image::manifest::Platform;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::SharedState;

#[derive(Deserialize)]
pub struct CreateQuery {
    name: Option<String>,
    platform: Option<String>,
}

pub async fn create(
    State(st): State<SharedState>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = CreateBody::from_json(&body)?;
    let platform = match q.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let (id, warnings) = st
        .containers
        .create(q.name.as_deref(), platform.as_ref(), body)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id, "Warnings": warnings })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: Option<String>,
    limit: Option<i64>,
    #[serde(default)]
    size: Option<String>,
    filters: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True"))
}

pub async fn list(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let filters = Filters::parse(q.filters.as_deref())?;
    filters.only(&[
        "ancestor",
        "before",
        "expose",
        "exited",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    ])?;
    for s in filters.get("status") {
        if s.parse::<ContainerStatus>().is_err() {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'status={s}'"
            )));
        }
    }
    for h in filters.get("health") {
        if !matches!(h.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
            return Err(ApiError::bad_request(format!(
                "Unrecognised filter value for health: {h}"
            )));
        }
    }
    let mut all = st.containers.list();
    // Newest first, as Docker lists them.
    all.sort_by_key(|c| std::cmp::Reverse(c.created));
    let bound = |key: &str| -> ApiResult<Option<chrono::DateTime<Utc>>> {
        match filters.get(key).first() {
            None => Ok(None),
            Some(k) => Ok(Some(st.containers.get(k)?.created)),
        }
    };
    let before = bound("before")?;
    let since = bound("since")?;
    let show_all = truthy(&q.all)
        || q.limit.is_some_and(|l| l > 0)
        || !filters.get("status").is_empty()
        || before.is_some()
        || since.is_some()
        || filters.contains("exited");
    let now = Utc::now();
    let mut out = Vec::new();
    for c in &all {
        let status = c.state.computed_status();
        if !show_all && !c.state.running {
            continue;
        }
        if !matches_filters(&st, c, status, &filters, before, since) {
            continue;
        }
        out.push(summary(&st, c, now, truthy(&q.size)));
        if q.limit.is_some_and(|l| l > 0 && out.len() as i64 >= l) {
            break;
        }
    }
    Ok(Json(out))
}

fn matches_filters(
    st: &SharedState,
    c: &Container,
    status: ContainerStatus,
    f: &Filters,
    before: Option<chrono::DateTime<Utc>>,
    since: Option<chrono::DateTime<Utc>>,
) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| test(w))
    };
    any("status", &|s| s == status.as_str())
        && any("id", &|p| c.id.starts_with(p))
        // Docker matches names as regular expressions, against "/name" as well.
        && any("name", &|n| {
            regex::Regex::new(n).is_ok_and(|re| re.is_match(&c.name) || re.is_match(c.bare_name()))
        })
        && any("exited", &|e| {
            status == ContainerStatus::Exited
                && e.parse::<i32>().is_ok_and(|code| code == c.state.exit_code)
        })
        && any("ancestor", &|a| {
            c.config.image == a
                || c.image == a
                || c.image.trim_start_matches("sha256:").starts_with(a)
                || st.images.resolve(a).is_ok_and(|d| d.to_string() == c.image)
        })
        // A volume by name, a bind by its source, any mount by its destination, as
        // dockerd's `volume` filter.
        && any("volume", &|v| {
            c.mount_points.iter().any(|m| {
                let key = if m.name.is_empty() { &m.source } else { &m.name };
                key == v || m.destination == v
            })
        })
        && f.labels_match(&c.config.labels)
        && any("health", &|h| {
            c.state.health.as_ref().map_or("none", |x| x.status.as_str()) == h
        })
        && before.is_none_or(|b| c.created < b)
        && since.is_none_or(|s| c.created > s)
}

fn command_line(c: &Container) -> String {
    std::iter::once(c.path.as_str())
        .chain(c.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// inspect's and `ps`'s `Mounts`: Docker's MountPoint fields, `Name` and `Driver` only for
/// volumes.
fn mounts_json(c: &Container) -> Value {
    // `--tmpfs` mounts are not among them, as in Docker; Name and Driver are left out when
    // empty (Go's omitempty), the rest in Docker's field order.
    let all = c.mount_points.iter().filter(|p| !p.tmpfs_flag).map(|p| {
        let mut m = serde_json::Map::new();
        m.insert("Type".into(), json!(p.kind.as_str()));
        if !p.name.is_empty() {
            m.insert("Name".into(), json!(p.name));
        }
        m.insert("Source".into(), json!(p.source));
        m.insert("Destination".into(), json!(p.destination));
        if !p.driver.is_empty() {
            m.insert("Driver".into(), json!(p.driver));
        }
        m.insert("Mode".into(), json!(p.mode));
        m.insert("RW".into(), json!(p.rw));
        m.insert("Propagation".into(), json!(p.propagation));
        Value::Object(m)
    });
    Value::Array(all.collect())
}

pub(crate) fn summary(
    st: &SharedState,
    c: &Container,
    now: chrono::DateTime<Utc>,
    size: bool,
) -> Value {
    let mut v = json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.config.image,
        "ImageID": c.image,
        "Command": command_line(c),
        "Created": c.created.timestamp(),
        "Ports": port_list(c),
        "Labels": c.config.labels,
        "State": c.state.computed_status().as_str(),
        "Status": status_text(&c.state, now),
        "HostConfig": { "NetworkMode": c.host_config.network_mode },
        "NetworkSettings": { "Networks": networks_json(st, c) },
        "Mounts": mounts_json(c),
    });
    if size {
        let rw = berth_image::dir_size(&st.containers.paths().dir(&c.id).join("upper"));
        v["SizeRw"] = json!(rw);
        let image = berth_image::Digest::parse(&c.image)
            .ok()
            .and_then(|d| st.images.get(&d));
        let base = image.map(|r| st.images.size(&r)).unwrap_or(0);
        v["SizeRootFs"] = json!(rw + base);
    }
    v
}

#[derive(Deserialize)]
pub struct InspectQuery {
    size: Option<String>,
}

pub async fn inspect(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<Json<Value>> {
    let c = st.containers.get(&id)?;
    Ok(Json(inspect_body(&st, &c, truthy(&q.size))))
}

/// Docker's `GET /containers/{id}/json` body.
pub fn inspect_body(st: &SharedState, c: &Container, size: bool) -> Value {
    let paths = st.containers.paths();
    let dir = paths.dir(&c.id);
    let lower: Vec<String> = berth_image::Digest::parse(&c.image)
        .ok()
        .and_then(|d| st.images.get(&d))
        .map(|r| {
            r.layers
                .iter()
                .rev()
                .map(|l| st.images.layers.diff_dir(&l.chain_id).display().to_string())
                .collect()
        })
        .unwrap_or_default();
    let started = c.has_been_started;
    let exec_ids = Some(st.containers.exec_ids(&c.id)).filter(|ids| !ids.is_empty());
    let mut state = serde_json::to_value(&c.state).unwrap_or(Value::Null);
    state["Status"] = json!(c.state.computed_status().as_str());
    let mut v = json!({
        "Id": c.id,
        "Created": format_timestamp(c.created),
        "Path": c.path,
        "Args": c.args,
        "State": state,
        "Image": c.image,
        "ResolvConfPath": if started { paths.resolv_conf_path(&c.id).display().to_string() } else { String::new() },
        "HostnamePath": if started { paths.hostname_path(&c.id).display().to_string() } else { String::new() },
        "HostsPath": if started { paths.hosts_path(&c.id).display().to_string() } else { String::new() },
        "LogPath": c.log_file(paths).map(|p| p.display().to_string()).unwrap_or_default(),
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids,
        "HostConfig": c.host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": lower.join(":"),
                "MergedDir": dir.join("rootfs").display().to_string(),
                "UpperDir": dir.join("upper").display().to_string(),
                "WorkDir": dir.join("work").display().to_string(),
            },
            "Name": "overlay2",
        },
        "Mounts": mounts_json(c),
        "Config": c.config,
        "NetworkSettings": network_settings(st, c),
    });
    if size {
        let rw = berth_image::dir_size(&dir.join("upper"));
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rw);
    }
    v
}

/// Until bridge networking exists a container has loopback only (or the host's network):
/// the shape is Docker's, the addresses are empty.
/// The container's networks as inspect and `ps` show them: one EndpointSettings per network
/// it joins, filled in while it runs.
fn networks_json(st: &SharedState, c: &Container) -> serde_json::Map<String, Value> {
    let s = c.network_settings.as_ref();
    let mut out = serde_json::Map::new();
    let mode = c.host_config.network_mode.as_str();
    let joined: Vec<(String, berth_network::EndpointRequest)> =
        if c.endpoints.is_empty() && !mode.starts_with("container:") {
            vec![(mode.to_string(), Default::default())]
        } else {
            c.endpoints.clone()
        };
    for (name, req) in &joined {
        let net = st.containers.network().get(name).ok();
        let ep = s.and_then(|s| s.endpoints.get(name));
        let user = net.as_ref().is_some_and(|n| !n.predefined);
        out.insert(
            name.clone(),
            json!({
                "IPAMConfig": req.ipv4.map(|ip| json!({"IPv4Address": ip.to_string()})),
                "Links": null,
                "Aliases": if req.aliases.is_empty() { Value::Null } else { json!(req.aliases) },
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                "DriverOpts": null,
                "GwPriority": 0,
                "NetworkID": net.map(|n| n.id).unwrap_or_default(),
                "EndpointID": ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map(|e| e.prefix_len).unwrap_or(0),
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": match ep {
                    Some(e) if user => json!(e.dns_names),
                    _ => Value::Null,
                },
            }),
        );
    }
    out
}

/// inspect's `NetworkSettings.Ports`: every exposed or published port, with its bindings
/// while the container runs.
fn ports_json(c: &Container) -> Value {
    let mut ports = serde_json::Map::new();
    let Some(s) = c.network_settings.as_ref() else {
        return json!({});
    };
    for k in c.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        ports.insert(k.clone(), Value::Null);
    }
    for m in &s.ports {
        let entry = ports.entry(m.container_port.clone()).or_insert(json!([]));
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": m.host_ip, "HostPort": m.host_port.to_string()}));
        }
    }
    Value::Object(ports)
}

fn network_settings(st: &SharedState, c: &Container) -> Value {
    let networks = networks_json(st, c);
    let s = c.network_settings.as_ref();
    // The top-level fields are the default bridge's, as dockerd fills them.
    let bridge = s.and_then(|s| s.endpoints.get("bridge"));
    json!({
        "Bridge": "", "SandboxID": s.map(|_| c.id.clone()).unwrap_or_default(),
        "SandboxKey": s.map(|s| s.sandbox_key.clone()).unwrap_or_default(),
        "Ports": ports_json(c), "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": bridge.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge.map(|e| e.prefix_len).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": bridge.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// `ps`'s `Ports`: the published ports, and the exposed ones without a binding.
fn port_list(c: &Container) -> Value {
    let mut out = Vec::new();
    let published = c
        .network_settings
        .as_ref()
        .map(|s| s.ports.clone())
        .unwrap_or_default();
    for m in &published {
        let (port, proto) = m
            .container_port
            .split_once('/')
            .unwrap_or((&m.container_port, "tcp"));
        out.push(json!({"IP": m.host_ip, "PrivatePort": port.parse::<u16>().unwrap_or(0), "PublicPort": m.host_port, "Type": proto}));
    }
    for k in c.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        if published.iter().any(|m| &m.container_port == k) {
            continue;
        }
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        out.push(json!({"PrivatePort": port.parse::<u16>().unwrap_or(0), "Type": proto}));
    }
    Value::Array(out)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub async fn start(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    st.containers.start(&id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct StopQuery {
    t: Option<i64>,
    signal: Option<String>,
}

pub async fn stop(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> ApiResult<Response> {
    st.containers.stop(&id, q.t, q.signal.as_deref()).await?;
    Ok(no_content())
}

pub async fn restart(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> ApiResult<Response> {
    st.containers.restart(&id, q.t, q.signal.as_deref()).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct KillQuery {
    signal: Option<String>,
}

pub async fn kill(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<KillQuery>,
) -> ApiResult<Response> {
    st.containers
        .kill(&id, q.signal.as_deref().filter(|s| !s.is_empty()))
        .await?;
    Ok(no_content())
}

pub async fn pause(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    st.containers.set_paused(&id, true).await?;
    Ok(no_content())
}

pub async fn unpause(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    st.containers.set_paused(&id, false).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct RenameQuery {
    name: Option<String>,
}

pub async fn rename(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<RenameQuery>,
) -> ApiResult<Response> {
    let name = q
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Neither old nor new names may be empty"))?;
    st.containers.rename(&id, &name)?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct ResizeQuery {
    h: Option<u16>,
    w: Option<u16>,
}

impl ResizeQuery {
    pub(crate) fn height(&self) -> u16 {
        self.h.unwrap_or(0)
    }
    pub(crate) fn width(&self) -> u16 {
        self.w.unwrap_or(0)
    }
}

pub async fn resize(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<Response> {
    st.containers.resize(&id, q.height(), q.width()).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /containers/{id}/changes`: `null` when nothing changed, as dockerd answers.
pub async fn changes(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    let changes = st.containers.changes(&id).await?;
    if changes.is_empty() {
        return Ok(Json(Value::Null).into_response());
    }
    let list: Vec<Value> = changes
        .iter()
        .map(|c| json!({ "Path": c.path, "Kind": c.kind as u8 }))
        .collect();
    Ok(Json(list).into_response())
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar.
pub async fn export(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    let (root, mounted) = st.containers.export(&id).await?;
    Ok(crate::stream::tar_from_blocking(move |w| {
        let _mounted = mounted;
        berth_image::tree_tar::write_tree(&root, w)
    }))
}

#[derive(Deserialize)]
pub struct TopQuery {
    ps_args: Option<String>,
}

/// `GET /containers/{id}/top`.
pub async fn top(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<TopQuery>,
) -> ApiResult<Response> {
    let t = st
        .containers
        .top(&id, q.ps_args.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(json!({ "Titles": t.titles, "Processes": t.processes })).into_response())
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
    v: Option<String>,
    link: Option<String>,
}

pub async fn delete(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Response> {
    if truthy(&q.link) {
        return Err(ApiError::not_implemented("removing links"));
    }
    st.containers
        .remove(&id, truthy(&q.force), truthy(&q.v))
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct PruneQuery {
    filters: Option<String>,
}

pub async fn prune(
    State(st): State<SharedState>,
    Query(q): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters = Filters::parse(q.filters.as_deref())?;
    filters.only(&["label", "label!", "until"])?;
    let until = match filters.get("until").first() {
        Some(u) => Some(crate::filters::parse_until(u)?),
        None => None,
    };
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in st.containers.list() {
        if c.state.running || c.state.computed_status() == ContainerStatus::Removing {
            continue;
        }
        if !filters.labels_match(&c.config.labels)
            || until.is_some_and(|u| c.created.timestamp() >= u)
        {
            continue;
        }
        if filters.labels_excluded(&c.config.labels) {
            continue;
        }
        let size = berth_image::dir_size(&st.containers.paths().dir(&c.id).join("upper"));
        match st.containers.remove(&c.id, false, false).await {
            Ok(()) => {
                deleted.push(c.id.clone());
                reclaimed += size;
            }
            Err(ContainerError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(
        json!({ "ContainersDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

pub async fn update(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let warnings = st.containers.update_container(&id, v)?;
    Ok(Json(json!({ "Warnings": warnings })))
}
