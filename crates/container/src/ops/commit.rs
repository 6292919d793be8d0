//! `POST /commit`: the container's read-write layer as a new image on top of its own.

use std::sync::Arc;

use berth_image::commit::Commit;
use berth_image::{Digest, ImageRef};
use berth_runtime::shim::protocol::Request;
use serde_json::Value;

use crate::error::ContainerError;
use crate::service::ContainerService;

/// What a commit asks for, besides the config edits.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub reference: Option<ImageRef>,
    pub comment: String,
    pub author: String,
    /// Pause a running container while its layer is read (Docker's default).
    pub pause: bool,
    /// The history entry's `created_by`; the container's command when `None`.
    pub created_by: Option<String>,
}

impl ContainerService {
    /// Commits the container. `edit` gets the image config the container's config makes (its
    /// `Cmd`, `Env`, … as an image has them) and applies the request's config and changes to
    /// it. Returns the new image's ID.
    pub async fn commit(
        self: &Arc<Self>,
        key: &str,
        opts: CommitOptions,
        edit: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<Digest, ContainerError> {
        let c = self.get(key)?;
        let parent = Digest::parse(&c.image)
            .map_err(|_| ContainerError::Invalid(format!("bad image id {}", c.image)))?;
        let mut config = image_config(&c.config)?;
        edit(&mut config).map_err(ContainerError::Invalid)?;
        let scratch = berth_image::archive::scratch_dir(&self.paths.data)
            .map_err(ContainerError::io("making a scratch directory"))?;
        let layer = scratch.join("layer.tar");
        let pause = opts.pause && c.state.running && !c.state.paused;
        if pause {
            self.shim(&c.id)
                .call(&Request::Pause)
                .await
                .map_err(|e| ContainerError::Start(format!("pausing for the commit: {e}")))?;
        }
        let upper = self.paths.dir(&c.id).join("upper");
        let written = {
            let layer = layer.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut f = std::io::BufWriter::new(std::fs::File::create(&layer)?);
                if upper.exists() {
                    berth_image::layer_tar::write_layer(&upper, &mut f)?;
                } else {
                    tar_empty(&mut f)?;
                }
                std::io::Write::flush(&mut f)
            })
            .await
        };
        if pause {
            if let Err(e) = self.shim(&c.id).call(&Request::Resume).await {
                tracing::error!(id = %c.id, error = %e, "resuming after a commit");
            }
        }
        let written = match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ContainerError::io("reading the container's layer")(e)),
            Err(e) => Err(ContainerError::Start(e.to_string())),
        };
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
        let store = self.images.clone();
        let created_by = opts.created_by.clone().unwrap_or_else(|| {
            std::iter::once(c.path.clone())
                .chain(c.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        });
        let (comment, author) = (opts.comment.clone(), opts.author.clone());
        let layer_path = layer.clone();
        let id = tokio::task::spawn_blocking(move || {
            berth_image::commit::commit(
                &store,
                &layer_path,
                Commit {
                    parent: &parent,
                    config,
                    comment: &comment,
                    author: &author,
                    created_by: &created_by,
                },
            )
        })
        .await;
        let _ = std::fs::remove_dir_all(&scratch);
        let id = id
            .map_err(|e| ContainerError::Start(e.to_string()))?
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        if let Some(r) = &opts.reference {
            self.images
                .tag(&id, r)
                .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        }
        let mut extra = vec![("comment", opts.comment.clone())];
        if let Some(r) = &opts.reference {
            extra.push(("imageName", r.to_string()));
        }
        self.emit(&c, "commit", &extra);
        Ok(id)
    }
}

/// An empty tar: the layer of a container that never ran.
fn tar_empty(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    tar::Builder::new(out).finish()
}

/// The container's config as an image config holds it: what a container made from the new
/// image starts with.
fn image_config(c: &crate::Config) -> Result<Value, ContainerError> {
    let mut v = serde_json::to_value(c).map_err(|e| ContainerError::Start(e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        // Per-run settings are not the image's.
        for k in [
            "Hostname",
            "Domainname",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "Image",
        ] {
            m.remove(k);
        }
    }
    Ok(v)
}
