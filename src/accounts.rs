//! Account rules shared by `POST /register` and `jwtd user`.

/// Longest password accepted, in bytes: argon2 would take any length, but
/// a megabyte "password" is a denial-of-service attempt, not a secret.
pub const MAX_PASSWORD: usize = 1024;

/// Why a username or password is refused (the message is client-facing).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    /// Username outside the allowed alphabet or length.
    #[error("username must be 1-64 characters of A-Z a-z 0-9 . _ @ -")]
    Username,
    /// Password too short or too long.
    #[error("password must be at least 8 characters and at most 1024 bytes")]
    Password,
}

/// Checks a new username: 1–64 characters of `A-Za-z0-9._@-`.
pub fn check_username(u: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Username)
    }
}

/// The stored form of a username: ASCII-lowercased (SPEC §2), so `Alice`
/// and `alice` are one account and look-alike `preferred_username`s cannot
/// be registered. Every path that takes a username folds it.
pub fn fold_username(u: &str) -> String {
    u.to_ascii_lowercase()
}

/// Checks a new password: at least 8 characters, at most 1024 bytes.
/// Characters, not bytes, at the low end (SPEC §5 says bytes): "ééé" is
/// 6 bytes but 3 characters, and the OpenAPI document (JSON Schema
/// counts characters) must say exactly what is accepted.
pub fn check_password(p: &str) -> Result<(), AccountError> {
    if p.len() <= MAX_PASSWORD && p.chars().count() >= 8 {
        Ok(())
    } else {
        Err(AccountError::Password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_spec_alphabet() {
        assert!(check_username("alice.b_c@d-e").is_ok());
        assert!(check_username(&"a".repeat(64)).is_ok());
        for bad in ["", "al ice", "alïce", &"a".repeat(65)] {
            assert_eq!(check_username(bad), Err(AccountError::Username), "{bad}");
        }
    }

    #[test]
    fn passwords_are_8_to_1024_bytes() {
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password("1234567").is_err());
        assert!(check_password("éééé").is_err(), "8 bytes, 4 characters");
        assert!(check_password("éééééééé").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
