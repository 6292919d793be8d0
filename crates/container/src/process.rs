//! The container's process as Docker derives it: Entrypoint/Cmd merging, environment, user.
