//! The OAuth 2 libraries services use, against a live jwtd (#11): Node's
//! `openid-client`, `oauth4webapi` and `jose`, and Python's `authlib`,
//! each driving discovery, refresh at the token endpoint with client
//! credentials, introspection, revocation, RFC 9068 validation and (jose)
//! a staged key rotation seen through a cached JWKS. The flows live in
//! `tests/interop/`; scripts/test.sh installs the libraries (npm ci from
//! the committed lock file; pip).

use std::process::Command;
use std::time::Duration;

use crate::helpers::{ADMIN_TOKEN, TestApp, free_port};

/// A server whose issuer is its own URL (the libraries check discovery
/// against it), with keys published 2 s before they sign.
async fn server() -> TestApp {
    let port = free_port();
    TestApp::spawn_with(|c| {
        c.serve.listen = ([127, 0, 0, 1], port).into();
        c.issuer = format!("http://127.0.0.1:{port}");
        c.serve.jwks_max_age = Duration::from_secs(2);
    })
    .await
}

/// Whether `program args` runs here; in CI its absence is a failure.
fn available(program: &str, args: &[&str], what: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{what} is not installed; scripts/test.sh installs it"
        );
        eprintln!("skipping: {what} is not installed (scripts/test.sh installs it)");
    }
    ok
}

/// Runs a flow to its end; its output is the failure message.
fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) {
    let out = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("the flow starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    println!("{text}");
}

#[tokio::test]
async fn openid_client_oauth4webapi_and_jose_work_out_of_the_box() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/node");
    let check = format!("{dir}/node_modules/openid-client/package.json");
    if !available(
        "node",
        &["-e", &format!("require({check:?})")],
        "node with tests/interop/node's packages (npm ci)",
    ) {
        return;
    }
    let app = server().await;
    let script = format!("{dir}/standard_clients.mjs");
    // The flow blocks this thread; the server runs on the test's other
    // worker threads.
    tokio::task::spawn_blocking(move || {
        run(
            "node",
            &[&script],
            &[("JWTD_URL", &app.url), ("JWTD_ADMIN_TOKEN", ADMIN_TOKEN)],
        );
        app
    })
    .await
    .expect("the flow finishes");
}

#[tokio::test]
async fn authlib_works_out_of_the_box() {
    if !available(
        "python3",
        &["-c", "import authlib, requests"],
        "python3 with authlib",
    ) {
        return;
    }
    let app = server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_flow.py");
    tokio::task::spawn_blocking(move || {
        run("python3", &[script, &app.url, ADMIN_TOKEN], &[]);
        app
    })
    .await
    .expect("the flow finishes");
}
