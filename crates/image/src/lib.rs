//! Images in berth: references, the content store, image records, and unpacked layers.
//!
//! The pieces follow containerd's split: [`content::ContentStore`] keeps blobs by digest,
//! [`layers::LayerStore`] keeps unpacked layer directories by chain ID, and
//! [`store::ImageStore`] ties an image ID (its config digest) to its layers and names.
//! Nothing here talks to a registry; the `berth-registry` crate fills these stores.

pub mod archive;
pub mod cache_from;
pub mod changes;
pub mod commit;
pub mod config;
pub mod content;
mod fsutil;
pub mod layer_tar;
pub mod layers;
pub mod manifest;
pub mod progress;
pub mod reference;
pub mod store;
pub mod tree_tar;
pub mod unpack;

pub use config::ImageConfig;
pub use fsutil::{atomic_write, atomic_write_mode, dir_size};
pub use reference::{Digest, ImageRef, ReferenceError};
pub use store::{
    BlobDescriptor, DeleteItem, ImageError, ImageRecord, ImageStore, ImageUser, LayerRecord,
};

/// Media types berth reads and writes.
pub mod media {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
}
