//! Volumes: the local driver (`volumes/<name>/_data`), named and anonymous volumes, bind and
//! tmpfs mounts, and the parsing of `-v`, `--mount` and `--tmpfs`.
//!
//! Not implemented yet: berth runs no containers so far, so nothing mounts a volume.
