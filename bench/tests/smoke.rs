//! CI's smoke run of the harness: `herald-bench smoke` against a spawned
//! Herald and a spawned baseline (and two Herald instances on PostgreSQL when
//! `TEST_DATABASE_URL` names an admin URL). It measures nothing; it fails on
//! any lost, duplicated or reordered event, failed connect or rejected write.
//!
//! The `herald` and `baseline` binaries must sit beside `herald-bench`:
//! `cargo test --workspace` builds every package's binaries into the same
//! directory before it runs any test. (`cargo test -p herald-bench` alone
//! does not build `herald`, and may find a stale one.)

use std::process::Command;

#[test]
fn smoke_run_keeps_every_promise() -> Result<(), Box<dyn std::error::Error>> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald-bench"));
    command.arg("smoke");
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            command.args(["--database-url", &url]);
        }
        _ => eprintln!("TEST_DATABASE_URL unset: the PostgreSQL smoke run is skipped"),
    }
    let output = command.output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "smoke run failed:\n{stderr}");
    Ok(())
}
