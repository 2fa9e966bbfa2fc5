//! Tokens signed by jwtd verify with an independent JOSE implementation
//! (PyJWT) that is given only the JWKS — for HS256, which publishes no
//! key by design, only the shared secret.

use std::io::Write as _;
use std::process::{Command, Stdio};

use jwtd::core::keys::Algorithm;
use serde_json::{Value, json};

use crate::helpers::{ISSUER, TestApp};

/// Whether python3 with PyJWT is here; in CI its absence is a failure.
fn pyjwt_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "PyJWT is not installed; scripts/test.sh installs it (pip install 'pyjwt[crypto]')"
        );
        eprintln!("skipping: python3 with PyJWT is not installed (scripts/test.sh installs it)");
    }
    ok
}

fn python_verify(jwks: &Value, token: &str, secret_hex: &str) -> (bool, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/verify_with_jwks.py"
    );
    let mut child = Command::new("python3")
        .args([script, ISSUER, "jwtd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let input = json!({"jwks": jwks, "token": token, "secret_hex": secret_hex}).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("wait_with_output succeeds");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn tokens_verify_with_pyjwt_given_only_the_jwks() {
    if !pyjwt_available() {
        return;
    }
    for alg in Algorithm::ALL {
        let app = TestApp::spawn_with(|c| c.serve.algorithm = alg).await;
        let t = app.user("interop").await;
        let jwks = app.jwks().await;
        let secret_hex = if alg == Algorithm::HS256 {
            app.active_key()
                .await
                .private
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        } else {
            String::new()
        };
        let (ok, out) = python_verify(&jwks, &t.access, &secret_hex);
        assert!(ok, "{alg}: PyJWT rejected a jwtd token: {out}");
        let claims: Value = serde_json::from_str(out.trim()).expect("parses");
        assert_eq!(claims["preferred_username"], "interop", "{alg}");
        assert_eq!(claims["sid"], t.session.as_str(), "{alg}");
        // And it is a real check: a tampered token fails there too.
        let (ok, out) = python_verify(&jwks, &crate::helpers::tamper(&t.access), &secret_hex);
        assert!(!ok, "{alg}: PyJWT accepted a tampered token: {out}");
    }
}
