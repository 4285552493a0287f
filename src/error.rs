//! Go-style errors: the text a user reads, plus what `errors.Is` and
//! `errors.As` could still find in the chain.
//!
//! moby decides on errors three ways: `errors.Is(err, syscall.EADDRINUSE)`,
//! `errors.Is(err, errAllPortsAllocated)`, `errors.As(err,
//! *ProtocolUnsupportedError)`, and substring matches on the text. A
//! [`GoError`] keeps exactly that: wrapping with `%w` keeps the errno and
//! kind, wrapping with `%v` or crossing rootlesskit's HTTP API keeps only
//! the text.

use crate::kernel::Errno;
use std::fmt;

/// Which sentinel error (if any) `errors.Is`/`errors.As` would find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    /// portallocator's `errAllPortsAllocated`
    AllPortsAllocated,
    /// rlkclient's `*ProtocolUnsupportedError`
    ProtocolUnsupported,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoError {
    pub text: String,
    pub errno: Option<Errno>,
    pub kind: Kind,
}

impl GoError {
    /// `errors.New(text)` / `fmt.Errorf` with no `%w`.
    pub fn new(text: impl Into<String>) -> GoError {
        GoError {
            text: text.into(),
            errno: None,
            kind: Kind::Plain,
        }
    }

    /// An error that wraps a syscall errno (`fmt.Errorf("...: %w", errno)`).
    pub fn with_errno(text: impl Into<String>, errno: Errno) -> GoError {
        GoError {
            text: text.into(),
            errno: Some(errno),
            kind: Kind::Plain,
        }
    }

    pub fn of_kind(text: impl Into<String>, kind: Kind) -> GoError {
        GoError {
            text: text.into(),
            errno: None,
            kind,
        }
    }

    /// `fmt.Errorf(prefix + ": %w", err)`: the chain survives.
    pub fn wrap(&self, prefix: &str) -> GoError {
        GoError {
            text: format!("{prefix}: {}", self.text),
            errno: self.errno,
            kind: self.kind,
        }
    }

    /// `fmt.Errorf(prefix + ": %v", err)`: only the text survives.
    pub fn wrap_v(&self, prefix: &str) -> GoError {
        GoError::new(format!("{prefix}: {}", self.text))
    }

    /// `errors.Is(err, errno)`.
    pub fn is_errno(&self, errno: Errno) -> bool {
        self.errno == Some(errno)
    }
}

impl fmt::Display for GoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_the_chain_and_wrap_v_drops_it() {
        let e = GoError::with_errno(
            "failed to bind host port 127.0.0.1:80/tcp: address already in use",
            Errno::EADDRINUSE,
        );
        assert!(e.wrap("x").is_errno(Errno::EADDRINUSE));
        assert!(!e.wrap_v("x").is_errno(Errno::EADDRINUSE));
        assert_eq!(
            e.wrap("x").text,
            "x: failed to bind host port 127.0.0.1:80/tcp: address already in use"
        );
    }
}
