//! A container's state and its transitions, and the status texts Docker shows for them.
