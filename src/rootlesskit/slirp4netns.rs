//! slirp4netns driver (stub).
