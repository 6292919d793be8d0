//! Network endpoints: list, inspect, create, remove, connect, disconnect, prune.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_network::{CreateRequest, Driver, Network};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::SharedState;

/// Docker's Network object; `Containers` with the endpoints when asked.
fn network_json(st: &SharedState, n: &Network, with_containers: bool) -> Value {
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => {
            let mut c = json!({"Subnet": s.to_string(), "Gateway": g.to_string()});
            if let Some(r) = n.ip_range {
                c["IPRange"] = json!(r.to_string());
            }
            vec![c]
        }
        _ => Vec::new(),
    };
    let mut containers = serde_json::Map::new();
    if with_containers {
        for (cid, ep) in st.containers.network().endpoints(&n.id) {
            let name = st
                .containers
                .get(&cid)
                .map(|c| c.bare_name().to_string())
                .unwrap_or_default();
            containers.insert(
                cid,
                json!({
                    "Name": name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix_len),
                    "IPv6Address": "",
                }),
            );
        }
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "Scope": "local",
        "Driver": n.driver.as_str(),
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
}

/// Whether a network passes `network ls` filters.
fn listed(st: &SharedState, f: &Filters, n: &Network) -> ApiResult<bool> {
    let any =
        |k: &str, ok: &dyn Fn(&str) -> bool| f.get(k).is_empty() || f.get(k).iter().any(|v| ok(v));
    if !any("driver", &|v| v == n.driver.as_str()) {
        return Ok(false);
    }
    if !any("id", &|v| n.id.starts_with(v)) || !any("name", &|v| n.name.contains(v)) {
        return Ok(false);
    }
    if !any("scope", &|v| v == "local") {
        return Ok(false);
    }
    for t in f.get("type") {
        match t.as_str() {
            "custom" if n.predefined => return Ok(false),
            "builtin" if !n.predefined => return Ok(false),
            "custom" | "builtin" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter: 'type'='{other}'"
                )))
            }
        }
    }
    if let Some(d) = f.bool("dangling")? {
        let unused = !n.predefined && st.containers.network().endpoints(&n.id).is_empty();
        if d != unused {
            return Ok(false);
        }
    }
    Ok(f.labels_match(&n.labels))
}

pub async fn list(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
    let mut out = Vec::new();
    for n in st.containers.network().list() {
        if listed(&st, &f, &n)? {
            out.push(network_json(&st, &n, false));
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct InspectQuery {
    verbose: Option<String>,
    scope: Option<String>,
}

pub async fn inspect(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<Json<Value>> {
    if matches!(q.verbose.as_deref(), Some("1" | "true")) {
        return Err(ApiError::bad_request(
            "verbose network inspect is for swarm networks, which berth does not have",
        ));
    }
    if q.scope
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != "local")
    {
        return Err(ApiError::not_found(format!("network {id} not found")));
    }
    let n = st.containers.network().get(&id)?;
    Ok(Json(network_json(&st, &n, true)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    #[serde(default)]
    subnet: Option<String>,
    #[serde(default, rename = "IPRange")]
    ip_range: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    auxiliary_addresses: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    #[serde(default)]
    driver: String,
    #[serde(default)]
    config: Vec<IpamConfig>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    #[serde(default)]
    check_duplicate: bool,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    attachable: bool,
    #[serde(default)]
    ingress: bool,
    #[serde(default, rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(default, rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(default, rename = "EnableIPv4")]
    enable_ipv4: Option<bool>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    config_only: bool,
    #[serde(default)]
    config_from: Option<Value>,
}

pub async fn create(State(st): State<SharedState>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = crate::body::json(&body)?;
    let _ = b.check_duplicate; // names are always unique in berth, as in dockerd 25+
    let refuse =
        |what: &str| ApiError::bad_request(format!("{what} is not supported yet by berth"));
    if b.ingress {
        return Err(refuse("an ingress network (swarm)"));
    }
    if b.config_only
        || b.config_from
            .as_ref()
            .is_some_and(|v| !v.is_null() && v != &json!({}) && v["Network"] != "")
    {
        return Err(refuse("ConfigOnly/ConfigFrom networks"));
    }
    if !matches!(b.scope.as_str(), "" | "local") {
        return Err(refuse(&format!("network scope {:?}", b.scope)));
    }
    if b.enable_ipv4 == Some(false) {
        return Err(refuse("a network without IPv4 (EnableIPv4=false)"));
    }
    let mut req = CreateRequest {
        name: b.name,
        driver: b.driver,
        internal: b.internal,
        attachable: b.attachable,
        enable_ipv6: b.enable_ipv6,
        options: b.options,
        labels: b.labels,
        ..Default::default()
    };
    if let Some(ipam) = b.ipam {
        if !matches!(ipam.driver.as_str(), "" | "default") {
            return Err(refuse(&format!("IPAM driver {:?}", ipam.driver)));
        }
        if !ipam.options.is_empty() {
            return Err(refuse("IPAM options"));
        }
        if ipam.config.len() > 1 {
            return Err(refuse("more than one IPAM config (several subnets)"));
        }
        if let Some(c) = ipam.config.into_iter().next() {
            if c.auxiliary_addresses.is_some_and(|a| !a.is_empty()) {
                return Err(refuse("auxiliary addresses (--aux-address)"));
            }
            req.subnet = c.subnet.filter(|s| !s.is_empty());
            req.ip_range = c.ip_range.filter(|s| !s.is_empty());
            req.gateway = c.gateway.filter(|s| !s.is_empty());
        }
    }
    let n = st.containers.create_network(req)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    )
        .into_response())
}

pub async fn delete(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    st.containers.remove_network(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    #[serde(default)]
    endpoint_config: Option<Value>,
    #[serde(default)]
    force: bool,
}

pub async fn action(
    State(st): State<SharedState>,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ConnectBody = crate::body::json(&body)?;
    match action.as_str() {
        "connect" => {
            let req = endpoint_request(b.endpoint_config.as_ref())?;
            st.containers.connect(&id, &b.container, req)?;
        }
        "disconnect" => st.containers.disconnect(&id, &b.container, b.force)?,
        _ => return Err(ApiError::not_found("page not found")),
    }
    Ok(StatusCode::OK.into_response())
}

/// A connect's `EndpointConfig`: aliases, an IPv4 address and a MAC address; links and the
/// rest are refused.
fn endpoint_request(v: Option<&Value>) -> ApiResult<berth_network::EndpointRequest> {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return Ok(Default::default());
    };
    for (k, val) in v.as_object().into_iter().flatten() {
        let unset = val.is_null()
            || val.as_str() == Some("")
            || val.as_array().is_some_and(|a| a.is_empty())
            || val.as_u64() == Some(0)
            || val.as_object().is_some_and(|o| {
                o.values().all(|x| {
                    x.is_null()
                        || x.as_str() == Some("")
                        || x.as_array().is_some_and(|a| a.is_empty())
                })
            });
        if !matches!(k.as_str(), "Aliases" | "IPAMConfig" | "MacAddress") && !unset {
            return Err(ApiError::bad_request(format!(
                "EndpointConfig.{k} is not supported yet by berth"
            )));
        }
    }
    let ipv4 = match v["IPAMConfig"]["IPv4Address"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {ip}")))?,
        ),
        None => None,
    };
    if v["IPAMConfig"]["IPv6Address"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "IPv6 addresses are not supported yet by berth",
        ));
    }
    Ok(berth_network::EndpointRequest {
        aliases: v["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        ipv4,
        mac: v["MacAddress"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        links: Vec::new(),
    })
}

pub async fn prune(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["until", "label", "label!"])?;
    let until = match f.get("until").first() {
        Some(u) => Some(crate::filters::parse_until(u)?),
        None => None,
    };
    let mut gone = Vec::new();
    for n in st.containers.network().list() {
        if n.predefined || n.driver != Driver::Bridge {
            continue;
        }
        if until.is_some_and(|u| n.created.timestamp() >= u) {
            continue;
        }
        if !f.labels_match(&n.labels) || f.labels_excluded(&n.labels) {
            continue;
        }
        if st.containers.network().endpoints(&n.id).is_empty()
            && st.containers.remove_network(&n.id).is_ok()
        {
            gone.push(n.name);
        }
    }
    Ok(Json(json!({ "NetworksDeleted": gone })))
}
