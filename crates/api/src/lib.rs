#![recursion_limit = "256"]
//! The Docker Engine API server of berth.
//!
//! Requests arrive on a unix socket, pass through [`version::negotiate`] (version prefix, Docker
//! headers), and reach the handlers in [`routes`], which call the image store and the registry
//! client. Every error leaves through [`error::ApiError`], the one place that picks status codes.
//!
//! Response bodies are built as JSON here rather than from `bollard-stubs` models: those omit
//! every unset field, while Docker clients (docker-py above all) index keys that dockerd always
//! sends, such as `"Parent": ""` or `"Labels": null`.

mod body;
pub mod error;
pub mod filters;
pub mod routes;
pub mod stream;
pub mod version;

use std::path::PathBuf;
use std::sync::Arc;

use axum::ServiceExt as _;
use berth_image::ImageStore;
use berth_registry::RegistryClient;

/// Facts about the host and the daemon that `/info` and `/version` report.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub id: String,
    pub name: String,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub ncpu: usize,
    pub mem_total: u64,
    pub cgroup_version: String,
    pub cgroup_driver: String,
    pub debug: bool,
}

/// What the handlers share.
pub struct ApiState {
    pub images: Arc<ImageStore>,
    pub containers: Arc<berth_container::ContainerService>,
    pub events: Arc<berth_container::events::EventLog>,
    pub registry: Arc<RegistryClient>,
    pub builder: Arc<berth_build::Builder>,
    pub host: HostInfo,
    /// Pulls and loads hold it shared while they add layers; deletes and prunes hold it
    /// exclusively, so garbage collection never removes a layer a pull has just found.
    pub gc: Arc<tokio::sync::RwLock<()>>,
    pub started: chrono::DateTime<chrono::Utc>,
}

pub type SharedState = Arc<ApiState>;

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::UnixListener,
    state: SharedState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = routes::router(state);
    let app = tower::Layer::layer(&axum::middleware::from_fn(version::negotiate), router);
    let app = tower::Layer::layer(&axum::middleware::from_fn(body::read_small_body), app);
    let app = tower::Layer::layer(&axum::middleware::from_fn(body::json_errors), app);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}
