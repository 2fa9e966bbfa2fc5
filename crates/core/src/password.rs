//! argon2id password hashing, with a dummy hash for unknown users.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id cost parameters. The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane); they are configurable, never hard-wired low.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Errors from hashing.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Parameters out of argon2's range.
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// Hashing itself failed.
    #[error("password hashing failed")]
    Hash,
}

/// Hashes and verifies passwords with fixed parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so "no such user" costs the same time as "wrong password".
    dummy: String,
}

impl PasswordHasher {
    /// Builds a hasher (and its dummy hash) for `params`.
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        Ok(Self {
            argon,
            dummy: dummy_hash(params),
        })
    }

    /// Checks that argon2 accepts `params`, without hashing anything.
    pub fn check_params(params: PasswordParams) -> Result<(), PasswordError> {
        Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map(|_| ())
        .map_err(|e| PasswordError::Params(e.to_string()))
    }

    /// A PHC-format argon2id hash of `password` with a random salt.
    pub fn hash(&self, password: &[u8]) -> Result<String, PasswordError> {
        self.argon
            .hash_password(password)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hash)
    }

    /// Whether `password` matches `hash`; `None` (unknown user) runs the
    /// same work against the dummy hash and answers `false`.
    pub fn verify(&self, password: &[u8], hash: Option<&str>) -> bool {
        match hash {
            Some(h) => self.argon.verify_password(password, h).is_ok(),
            None => {
                let _ = self.argon.verify_password(password, self.dummy.as_str());
                false
            }
        }
    }
}

/// A well-formed argon2id hash with these parameters, a random salt and a
/// random output: verifying any password against it runs the full argon2
/// computation, exactly as for a real user, and fails. Computing a real hash
/// instead cost every start one production-strength hash (19 MiB).
fn dummy_hash(params: PasswordParams) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut salt = [0u8; 16];
    let mut output = [0u8; 32];
    crate::id::fill_random(&mut salt);
    crate::id::fill_random(&mut output);
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64.encode(salt),
        b64.encode(output)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let params = PasswordParams {
            memory_kib: 2048,
            iterations: 3,
            parallelism: 1,
        };
        let h = PasswordHasher::new(params).expect("constructs");
        let real = h.hash(b"pw").expect("hash succeeds");
        let parsed = |s: &str| {
            let phc = argon2::PasswordHash::new(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            let p = Params::try_from(&phc).unwrap_or_else(|e| panic!("{s}: {e}"));
            (
                phc.algorithm.to_string(),
                phc.version,
                p.m_cost(),
                p.t_cost(),
                p.p_cost(),
                phc.salt.map(|s| s.len()),
                phc.hash.map(|o| o.len()),
            )
        };
        // Same algorithm, version, costs, salt and output sizes: verify
        // does the same work for an unknown user as for a wrong password.
        assert_eq!(parsed(&h.dummy), parsed(&real));
        assert_eq!(parsed(&h.dummy).2, 2048);
        assert!(!h.verify(b"pw", None));
        assert!(!h.verify(b"", None));
    }

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = PasswordHasher::new(PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("constructs");
        let stored = h.hash(b"correct horse").expect("hash succeeds");
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify(b"correct horse", Some(&stored)));
        assert!(!h.verify(b"wrong", Some(&stored)));
        assert!(!h.verify(b"correct horse", None));
        assert!(!h.verify(b"x", Some("not a hash")));
    }
}
