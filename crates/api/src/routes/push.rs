//! `POST /images/{name}/push?tag=`: push one tag, or every tag of the repository when `tag` is
//! empty (`docker push --all-tags`).

use axum::http::HeaderMap;
use axum::response::Response;
use berth_image::progress::JsonMessage;
use berth_image::ImageRef;
use tokio::sync::mpsc;

use super::pull::registry_auth;
use crate::error::{ApiError, ApiResult};
use crate::stream::json_lines;
use crate::SharedState;

pub async fn push(
    s: SharedState,
    name: &str,
    tag: String,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let repo = ImageRef::parse(name)?;
    let targets: Vec<ImageRef> = if !tag.is_empty() {
        vec![ImageRef::parse(&format!("{}:{tag}", repo.name()))?]
    } else if repo.tag().is_some() {
        vec![repo.clone()]
    } else {
        let mut all = Vec::new();
        for id in s.images.ids() {
            all.extend(
                s.images
                    .refs_of(&id)
                    .0
                    .into_iter()
                    .filter(|r| r.name() == repo.name()),
            );
        }
        all.sort_by_key(|r| r.to_string());
        all
    };
    let mut work = Vec::new();
    for t in &targets {
        let id = s.images.resolve(&t.to_string()).map_err(|_| {
            ApiError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                t.familiar()
            ))
        })?;
        work.push((id, t.clone()));
    }
    if work.is_empty() {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {}",
            repo.familiar_name()
        )));
    }
    let auth = registry_auth(headers);
    let (tx, rx) = mpsc::channel::<JsonMessage>(64);
    let gc = s.gc.clone().read_owned().await;
    tokio::spawn(async move {
        let _gc = gc;
        let _ = tx
            .send(JsonMessage::status(format!(
                "The push refers to repository [{}]",
                repo.name()
            )))
            .await;
        for (id, target) in work {
            if let Err(e) = s
                .registry
                .push(s.images.clone(), &id, &target, auth.clone(), tx.clone())
                .await
            {
                tracing::warn!(target = %target, error = %e, "push failed");
                let _ = tx.send(JsonMessage::error(e.to_string())).await;
                return;
            }
        }
    });
    Ok(json_lines(rx))
}
