//! Route table: which handler answers which method and path (paths without the version prefix).

mod archive;
mod build;
mod commit;
mod container_io;
mod containers;
mod copy;
mod df;
mod events;
mod exec;
mod images;
mod networks;
mod pull;
mod push;
mod stats;
mod system;
mod volumes;

use axum::routing::{delete, get, head, post};
use axum::Router;

use crate::error::ApiError;
use crate::SharedState;

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(df::df))
        .route("/auth", post(system::auth))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/prune", post(images::prune))
        .route("/images/get", get(images::save))
        .route("/images/load", post(images::load))
        .route("/images/search", get(images::search))
        .route(
            "/images/{*rest}",
            get(images::get_named)
                .post(images::post_named)
                .delete(images::delete),
        )
        .route("/events", get(events::events))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/wait", post(container_io::wait))
        .route("/containers/{id}/attach", post(container_io::attach))
        .route("/containers/{id}/logs", get(container_io::logs))
        .route("/containers/{id}", delete(containers::delete))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route(
            "/containers/{id}/archive",
            get(copy::get).head(copy::head).put(copy::put),
        )
        .route("/containers/{id}/export", get(containers::export))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/update", post(containers::update))
        .route("/commit", post(commit::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::delete),
        )
        .route("/networks/{id}/{action}", post(networks::action))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect)
                .delete(volumes::delete)
                .put(volumes::update),
        )
        .route("/plugins/{*rest}", get(system::plugin_missing))
        .route("/swarm", get(system::not_swarm))
        .route("/nodes", get(system::not_swarm))
        .route("/services", get(system::not_swarm))
        .route("/tasks", get(system::not_swarm))
        .route("/secrets", get(system::not_swarm))
        .route("/configs", get(system::not_swarm))
        .route(
            "/session",
            head(system::not_implemented).post(system::not_implemented),
        )
        .fallback(|| async { ApiError::not_found("page not found") })
        .with_state(state)
}
