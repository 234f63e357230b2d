//! The shipped `deploy/nginx.conf`, run by the real nginx in front of two
//! instances: events stream through it promptly, whichever instance wrote them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    Backend, PROMPTLY, SseClient, TEST_SECRET, TestApp, TestResult, postgres_or_skip, spawn_app,
    spawn_secured, start, token,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// Starts nginx with the shipped configuration, pointed at `a` and `b`,
    /// and waits until it answers.
    async fn start(a: &TestApp, b: &TestApp) -> Result<Self, BoxError> {
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
        let mut nginx = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let healthz = format!("{}/healthz", nginx.address);
        tokio::time::timeout(PROMPTLY, async {
            // nginx takes a moment to bind its port.
            while client.get(&healthz).send().await.is_err() {
                if let Some(status) = nginx.child.try_wait()? {
                    return Err(format!("nginx exited ({status}); its errors are above").into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, BoxError>(())
        })
        .await??;
        Ok(nginx)
    }
}

/// PostgreSQL (two instances share it) and nginx, or why the test skips.
fn postgres_and_nginx_or_skip() -> Option<Backend> {
    let backend = postgres_or_skip()?;
    nginx_or_skip().then_some(backend)
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
    let Some(backend) = postgres_and_nginx_or_skip() else {
        return Ok(());
    };
    let a = spawn_app(&backend).await;
    let b = a.another_instance().await;
    let nginx = Nginx::start(&a, &b).await?;
    let response = reqwest::Client::new()
        .get(format!("{}/api/sse/stream", nginx.address))
        .send()
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
        // A proxy that buffers holds a small frame until its buffer fills,
        // which the keep-alives (14 bytes a second) would take minutes to
        // do; a bound of seconds tells that apart on however busy a machine.
        assert!(
            took < Duration::from_secs(3),
            "event {} took {took:?} through nginx",
            n + 1
        );
    }
    Ok(())
}

/// The page is served through nginx, so its writes carry nginx's origin:
/// signed in by cookie, they must be taken for the page's own, on either
/// upstream, and a foreign page's still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_signed_writes_through_nginx_are_the_pages_own() -> TestResult {
    let Some(backend) = postgres_and_nginx_or_skip() else {
        return Ok(());
    };
    let a = spawn_secured(&backend, &[]).await;
    let b = start(a.database.clone(), &[("JWT_SECRET", TEST_SECRET)]).await;
    let nginx = Nginx::start(&a, &b).await?;
    let client = reqwest::Client::new();
    let alice = token(
        "alice",
        "users:read users:write",
        &["*"],
        Duration::from_secs(3600),
    );
    let signed_in = client
        .post(format!("{}/api/v1/session", nginx.address))
        .bearer_auth(&alice)
        .send()
        .await?;
    assert_eq!(signed_in.status(), 204);
    let session = format!("herald_session={alice}");
    let write = |origin: &str, name: &str| {
        client
            .post(format!("{}/api/v1/users", nginx.address))
            .header("cookie", &session)
            .header("origin", origin)
            .json(&json!({"user_name": name, "email": format!("{name}@example.com")}))
            .send()
    };
    // nginx takes turns: these reach both upstreams.
    for name in ["ada", "grace", "edsger", "barbara"] {
        let response = write(&nginx.address, name).await?;
        assert_eq!(response.status(), 201, "{name}: {}", response.text().await?);
    }
    let foreign = write("https://evil.example", "mallory").await?;
    assert_eq!(foreign.status(), 403);
    Ok(())
}
