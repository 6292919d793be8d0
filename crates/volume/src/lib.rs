//! Storage for containers: the volume store and its local driver (`volumes/<name>/_data`), the
//! copy of an image's content into a new volume, and the one parser of `-v`, `--mount` and
//! `--tmpfs` that both berth's CLI ([`cli`]) and berthd ([`parse`]) use.

pub mod cli;
pub mod error;
pub mod idmap;
pub mod kernel;
pub mod mount;
pub mod parse;
pub mod service;
pub mod store;
pub mod tree;
pub mod units;

pub use error::VolumeError;
pub use mount::{Mount, MountPoint, MountType};
pub use service::{EventSink, Owner, Request, SpecMount, Usage, VolumeService};
pub use store::{Volume, VolumeView, ANONYMOUS_LABEL};
