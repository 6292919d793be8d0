//! The steps that change the filesystem (RUN, COPY/ADD, WORKDIR) and the ones that change only
//! the config, and what they share: a container of the stage's image to work in, and the
//! commit of the result.

mod copy;
pub(crate) mod copy_tar;
mod meta;
mod run;
mod run_mount;

use berth_container::{CommitOptions, CreateBody};
use berth_image::commit::Commit;
use berth_image::Digest;
use serde_json::json;

use std::collections::HashMap;

use crate::builder::{Builder, Output, Prepared, StageState};
use crate::BuildError;

impl Builder {
    /// Creates (never starts) a container of `image` for a step to write into; `comment` is
    /// its command, as the classic builder names such containers' commands.
    pub(crate) fn work_container(
        &self,
        image: &Digest,
        comment: &str,
    ) -> Result<String, BuildError> {
        let body = json!({
            "Image": image.to_string(),
            "Cmd": ["/bin/sh", "-c", format!("#(nop) {comment}")],
            "Entrypoint": [""],
            "HostConfig": { "NetworkMode": "none" },
        });
        let body = CreateBody::from_json(body.to_string().as_bytes())?;
        Ok(self.containers.create(None, None, body)?.0)
    }

    /// Commits the container as the stage's next image, with the stage's config.
    pub(crate) async fn commit_container(
        &self,
        st: &StageState,
        id: &str,
        created_by: &str,
    ) -> Result<Digest, BuildError> {
        let config = st.config.clone();
        let opts = CommitOptions {
            pause: false,
            author: st.author.clone(),
            created_by: Some(created_by.to_string()),
            ..Default::default()
        };
        Ok(self
            .containers
            .commit(id, opts, move |c| {
                *c = config;
                Ok(())
            })
            .await?)
    }

    /// An image with the stage's config and no new layer.
    pub(crate) fn commit_config(
        &self,
        st: &StageState,
        created_by: &str,
    ) -> Result<Digest, BuildError> {
        Ok(berth_image::commit::derive(
            &self.images,
            Commit {
                parent: &st.image,
                config: st.config.clone(),
                comment: "",
                author: &st.author,
                created_by,
            },
        )?)
    }

    /// The image a `--from=` names: a stage built before this one, or an image.
    pub(crate) async fn image_named(
        &self,
        p: &Prepared,
        name: &str,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<Digest, BuildError> {
        match p.plan.stage_named(name, p.plan.stages.len()) {
            Some(i) => done.get(&i).cloned().ok_or_else(|| {
                BuildError::Invalid(format!("stage {name} is not built before this one"))
            }),
            None => self.base_image(name, p.opts.platform.clone(), p, out).await,
        }
    }

    /// Removes a step's container and its anonymous volumes.
    pub(crate) async fn drop_container(&self, id: &str) {
        if let Err(e) = self.containers.remove(id, true, true).await {
            tracing::warn!(container = id, error = %e, "removing a build container");
        }
    }
}
