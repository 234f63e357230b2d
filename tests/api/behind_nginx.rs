//! The shipped `deploy/nginx.conf`, run by the real nginx in front of two
//! instances: events stream through it promptly, whichever instance wrote them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{PROMPTLY, SseClient, TestApp, TestResult, postgres_or_skip, spawn_app};

struct Nginx {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master then takes its workers down too.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Starts nginx with the shipped configuration, pointed at `a` and `b`.
    fn start(a: &TestApp, b: &TestApp) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))?;
        let config = shipped
            .replace("127.0.0.1:8081", a.address.trim_start_matches("http://"))
            .replace("127.0.0.1:8082", b.address.trim_start_matches("http://"))
            .replace("listen 127.0.0.1:8080;", &format!("listen 127.0.0.1:{port};"))
            // Keep nginx's scratch files inside the test's directory.
            .replace(
                "http {",
                "http {\n    client_body_temp_path body; proxy_temp_path proxy; fastcgi_temp_path fastcgi;\n    uwsgi_temp_path uwsgi; scgi_temp_path scgi; access_log off;",
            );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .args(["-g", "daemon off; pid nginx.pid; error_log stderr warn;"])
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

fn nginx_or_skip() -> bool {
    let installed = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("skipped: nginx is not installed (.ci/run installs it)");
    }
    installed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_through_nginx_promptly() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    if !nginx_or_skip() {
        return Ok(());
    }
    let a = spawn_app(&backend).await;
    let b = a.another_instance().await;
    let nginx = Nginx::start(&a, &b)?;
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(PROMPTLY, async {
        loop {
            // nginx takes a moment to bind its port.
            match client
                .get(format!("{}/api/sse/stream", nginx.address))
                .send()
                .await
            {
                Ok(response) => return response,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await?;
    assert_eq!(response.status(), 200);
    let mut stream = SseClient::new(response);
    assert_eq!(
        stream.expect_frame().await.retry,
        Some(500),
        "the first frame is not held back"
    );

    for (n, upstream) in [&a, &b, &a, &b].into_iter().enumerate() {
        let written = Instant::now();
        upstream.create_user(&format!("via.{n}")).await;
        let frame = stream.expect_event().await;
        let took = written.elapsed();
        assert_eq!(frame.id_number(), n as i64 + 1);
        assert!(
            took < Duration::from_millis(500),
            "event {} took {took:?} through nginx",
            n + 1
        );
    }
    Ok(())
}
