//! Bearer tokens: read-only ones (every `GET`) and read-write ones (also
//! `PATCH`). Tokens are kept only as SHA-256 digests and a presented token
//! is compared with every one of them in constant time (no early exit, no
//! length leak), so the answer's timing says nothing about how close a
//! guess was. Tokens never reach a log line.

use super::problem::Problem;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read.
    Read,
    /// Read and change desired state.
    Write,
}

/// The configured tokens.
#[derive(Clone)]
pub struct Auth {
    read: Vec<[u8; 32]>,
    write: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("read_tokens", &self.read.len())
            .field("write_tokens", &self.write.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// From the configured token lists.
    pub fn new(read: &[String], write: &[String]) -> Self {
        Self {
            read: read.iter().map(|t| digest(t)).collect(),
            write: write.iter().map(|t| digest(t)).collect(),
        }
    }

    /// Whether any token is configured (otherwise everything is open: the
    /// configuration allows that on loopback only).
    pub fn enabled(&self) -> bool {
        !(self.read.is_empty() && self.write.is_empty())
    }

    /// The role of an `Authorization` header's value; 401 without a valid
    /// bearer token.
    pub fn role(&self, authorization: Option<&str>) -> Result<Role, Problem> {
        let unauthorized = |detail: &str| {
            Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
                .field("Authorization")
                .challenge()
        };
        let header = authorization.ok_or_else(|| unauthorized("a bearer token is required"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("expected `Authorization: Bearer <token>`"))?;
        let d = digest(token);
        let any = |list: &[[u8; 32]]| {
            list.iter()
                .fold(Choice::from(0), |acc, t| acc | t.ct_eq(&d))
        };
        let (w, r) = (any(&self.write), any(&self.read));
        if bool::from(w) {
            Ok(Role::Write)
        } else if bool::from(r) {
            Ok(Role::Read)
        } else {
            Err(unauthorized("the token is not valid"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_their_role_and_nothing_else() {
        let a = Auth::new(&["reader-0123456789".into()], &["writer-0123456789".into()]);
        assert!(a.enabled());
        assert_eq!(a.role(Some("Bearer reader-0123456789")), Ok(Role::Read));
        assert_eq!(a.role(Some("Bearer writer-0123456789")), Ok(Role::Write));
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Basic cmVhZGVy"),
            Some("Bearer reader-012345678"),
            Some(""),
        ] {
            let p = a.role(bad).unwrap_err();
            assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{bad:?}");
            assert!(!p.body().to_string().contains("reader-0123456789"));
        }
        assert!(!Auth::new(&[], &[]).enabled());
        assert!(!format!("{a:?}").contains("reader"));
    }
}
