//! Volumes: the local driver (`<data-root>/volumes/<name>/_data`), named and anonymous
//! volumes, bind and tmpfs mounts, the one parser of `-v`, `--mount` and `--tmpfs` that the
//! CLI and the API share, the resolution of a container's mounts, and the copy-up of image
//! content into a new volume.
//!
//! The container service reaches it through [`VolumeStore::resolve`] (at create: the
//! container's [`MountPoint`]s), [`VolumeStore::mount_source`] and [`copyup::copy_up`] (at
//! each start), and [`VolumeStore::release_all`] (when the container goes).

pub mod copyup;
pub mod error;
pub mod resolve;
pub mod spec;
pub mod store;

pub use error::VolumeError;
pub use resolve::{MountPoint, Requested, SpecMount};
pub use spec::MountKind;
pub use store::{Volume, VolumeStore, ANONYMOUS_LABEL};
