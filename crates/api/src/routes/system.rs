//! System endpoints: ping, version, info, auth, and the answers for features berth does not have.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::AuthConfig;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::version::{API_VERSION, MIN_API_VERSION};
use crate::SharedState;
use berth_container::state::ContainerStatus;

fn ping_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h
}

pub async fn ping() -> Response {
    (ping_headers(), "OK").into_response()
}

pub async fn ping_head() -> Response {
    let mut h = ping_headers();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    (h, "").into_response()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn version(State(s): State<SharedState>) -> Json<Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": {"Name": "berth"},
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {
                "ApiVersion": API_VERSION, "Arch": arch(), "BuildTime": env!("BERTH_BUILD_TIME"), "Experimental": "false",
                "GitCommit": env!("BERTH_GIT_COMMIT"), "GoVersion": "rust", "KernelVersion": s.host.kernel_version,
                "MinAPIVersion": MIN_API_VERSION, "Os": "linux"
            }
        }],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": env!("BERTH_GIT_COMMIT"),
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": s.host.kernel_version,
        "BuildTime": env!("BERTH_BUILD_TIME")
    }))
}

pub async fn info(State(s): State<SharedState>) -> Json<Value> {
    let h = &s.host;
    let images = s.images.ids().len();
    let nfd = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    let insecure = s.registry.insecure().describe();
    let all = s.containers.list();
    let count = |st: ContainerStatus| {
        all.iter()
            .filter(|c| c.state.computed_status() == st)
            .count()
    };
    let (running, paused) = (
        count(ContainerStatus::Running) + count(ContainerStatus::Restarting),
        count(ContainerStatus::Paused),
    );
    let runtimes: serde_json::Map<String, Value> = s
        .containers
        .runtimes()
        .known
        .iter()
        .map(|(name, cfg)| {
            let path = match cfg {
                berth_runtime::runtime::RuntimeConfig::Cli { path, .. } => {
                    path.display().to_string()
                }
                berth_runtime::runtime::RuntimeConfig::Builtin { .. } => "builtin".into(),
            };
            (name.clone(), json!({ "path": path }))
        })
        .collect();
    Json(json!({
        "ID": h.id,
        "Containers": all.len(), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": all.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true,
        "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": false, "BridgeNfIp6tables": false,
        "Debug": h.debug, "NFd": nfd, "OomKillDisable": h.cgroup_version == "1", "NGoroutines": threads,
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": "json-file", "CgroupDriver": h.cgroup_driver, "CgroupVersion": h.cgroup_version,
        "NEventsListener": 0, "KernelVersion": h.kernel_version, "OperatingSystem": h.operating_system,
        "OSVersion": h.os_version, "OSType": "linux", "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": null, "AllowNondistributableArtifactsHostnames": null,
            "InsecureRegistryCIDRs": insecure.iter().filter(|e| e.contains('/')).collect::<Vec<_>>(),
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": null
        },
        "NCPU": h.ncpu, "MemTotal": h.mem_total, "GenericResources": null,
        "DockerRootDir": h.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": h.name, "Labels": [], "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": runtimes, "DefaultRuntime": s.containers.runtimes().default,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        // Containers keep running when berthd stops and are picked up again at its start.
        "LiveRestoreEnabled": true, "Isolation": "", "InitBinary": "",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"], "CDISpecDirs": [], "Warnings": []
    }))
}

/// `POST /auth`: checks credentials against the registry, as `docker login` expects.
pub async fn auth(
    State(s): State<SharedState>,
    Json(cfg): Json<AuthConfig>,
) -> ApiResult<Json<Value>> {
    s.registry.login(&cfg).await?;
    Ok(Json(
        json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// `docker inspect` probes plugins when nothing else matched: the answer must be a 404.
pub async fn plugin_missing(axum::extract::Path(rest): axum::extract::Path<String>) -> ApiError {
    let name = rest.strip_suffix("/json").unwrap_or(&rest);
    ApiError::not_found(format!("plugin \"{name}\" not found"))
}

pub async fn not_swarm() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
    )
}

pub async fn not_implemented() -> ApiError {
    ApiError::not_implemented("BuildKit sessions")
}
