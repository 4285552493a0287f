//! builtin driver (stub).
