//! The binary's configuration surface: precedence and exit code 2.

use std::process::Command;

use serde_json::json;

use crate::helpers::{Binary, PASSWORD, jwtd_bin, post_value};

fn run_bad(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut cmd = Command::new(jwtd_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_option() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "acces_ttl = \"5m\"\n").expect("the file is written");
    let file_arg = file.display().to_string();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--access-ttl", "fifteen"], vec![], "access_ttl"),
        (vec![], vec![("JWTD_ALGORITHM", "none")], "algorithm"),
        (vec!["--leeway", "5"], vec![], "leeway"),
        (vec!["--config", &file_arg], vec![], "acces_ttl"),
        (vec!["--listen", "nowhere"], vec![], "listen"),
        (
            vec!["--database-url", "sqlite:///nonexistent-dir/x/y.db"],
            vec![],
            "database_url",
        ),
        // Cluster mode without an explicit issuer; fan-out without a cluster.
        (
            vec!["--database-url", "postgres://postgres@127.0.0.1:5432/test"],
            vec![],
            "issuer",
        ),
        (
            vec!["--redis-url", "redis://127.0.0.1:6379"],
            vec![],
            "redis_url",
        ),
        (vec!["--database-url", "mysql://x"], vec![], "database_url"),
        // An unreachable database at start is a configuration error too.
        (
            vec![
                "--database-url",
                "postgres://postgres@127.0.0.1:1/x",
                "--issuer",
                "http://x",
            ],
            vec![],
            "database_url",
        ),
        // More connections than the open-file limit can hold; timeouts of 0.
        (
            vec!["--max-connections", "100000000"],
            vec![],
            "max_connections",
        ),
        (vec!["--max-connections", "0"], vec![], "max_connections"),
        (
            vec!["--header-read-timeout", "0s"],
            vec![],
            "header_read_timeout",
        ),
        (vec![], vec![("JWTD_IDLE_TIMEOUT", "soon")], "idle_timeout"),
        (vec!["--shutdown-grace", "10"], vec![], "shutdown_grace"),
    ];
    for (args, env, option) in cases {
        let (code, stderr) = run_bad(&args, &env);
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(option), "{stderr}");
    }
}

#[tokio::test]
async fn flag_beats_env_beats_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("jwtd.toml");
    std::fs::write(
        &file,
        "access_ttl = \"5m\"\naudience = \"from-file\"\nissuer = \"https://file\"\n",
    )
    .expect("the file is written");
    let (file, data) = (
        file.display().to_string(),
        dir.path().join("data").display().to_string(),
    );
    let args = ["--access-ttl", "3m", "--config", &file, "--data-dir", &data];
    let env = [
        ("JWTD_ACCESS_TTL", "2m"),
        ("JWTD_AUDIENCE", "from-env"),
        ("JWTD_ARGON2_MEMORY_KIB", "1024"),
    ];
    let server = Binary::start(&args, &env).await;
    let url = server.url.clone();
    let c = reqwest::Client::new();
    let creds = json!({"username": "prec", "password": PASSWORD});
    c.post(format!("{url}/register"))
        .json(&creds)
        .send()
        .await
        .expect("the request is sent");
    let b = post_value(&c, &format!("{url}/login"), &creds).await;
    assert_eq!(b["expires_in"], 180, "flag beats env and file");
    let (_, claims) = jwtd::core::token::decode_unverified(
        b["access_token"]
            .as_str()
            .expect("access_token is a string"),
    )
    .expect("a decodable JWT");
    assert_eq!(claims["aud"], "from-env", "env beats file");
    assert_eq!(claims["iss"], "https://file", "file beats default");
    server.kill9().await;
}
