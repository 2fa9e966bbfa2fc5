//! The jwtd processes under torture: real binaries on fixed ports, killed
//! with SIGKILL and restarted on the same port and data, their RSS sampled.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::{free_port, jwtd_bin};

/// One jwtd process, restartable.
pub struct Node {
    pub port: u16,
    args: Vec<String>,
    child: Option<tokio::process::Child>,
}

impl Node {
    /// Starts `jwtd serve ARGS` on a free port and waits until it answers.
    pub async fn start(args: Vec<String>) -> Self {
        let mut node = Self {
            port: free_port(),
            args,
            child: None,
        };
        node.restart().await;
        node
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process on its port and waits for `/readyz`.
    pub async fn restart(&mut self) {
        let child = tokio::process::Command::new(jwtd_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn jwtd: {e}"));
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .get(format!("{}/readyz", self.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "jwtd did not become ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Resident memory in KiB (`None` while it is down).
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}
