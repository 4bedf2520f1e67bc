//! The warehouse in an S3-compatible object store: a real server (moto, from PyPI) on
//! loopback, credentials from the `AWS_*` environment as object_store reads them.
//!
//! `.ci/run` installs moto and sets `REFRATE_REQUIRE_S3=1`, so CI cannot skip this silently;
//! elsewhere the test is skipped with a message when no server can be started.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::*;

const BUCKET: &str = "refrate-test";
const H3: &str = "2711000105";
const H4: &str = "4011000207";
const PARTNER: &str = "1311009904";

/// A moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Result<Moto, String> {
    let port = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().unwrap().port();
    let port_s = port.to_string();
    let launchers: [(&str, Vec<&str>); 2] = [
        ("moto_server", vec!["-H", "127.0.0.1", "-p", &port_s]),
        ("python3", vec!["-m", "moto.server", "-H", "127.0.0.1", "-p", &port_s]),
    ];
    let mut why = Vec::new();
    for (program, args) in launchers {
        let child =
            match Command::new(program).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
                Ok(c) => c,
                Err(e) => {
                    why.push(format!("{program}: {e}"));
                    continue;
                }
            };
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = moto.child.try_wait() {
                why.push(format!("{program} exited with {status} (is moto[server] installed?)"));
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        why.push(format!("{program} did not listen on port {port}"));
    }
    Err(why.join("; "))
}

/// Creates the bucket with a plain HTTP request (object_store does not create buckets).
fn create_bucket(endpoint: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "creating the bucket: {response}");
}

fn aws_env(endpoint: &str) -> [(&'static str, String); 5] {
    [
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ]
}

fn refrate_s3(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(refrate_bin())
        .current_dir(dir)
        .args(args)
        .args(["--config", dir.join("refrate.yaml").to_str().unwrap()])
        .env("REFRATE_PSEUDONYM_KEY", TEST_KEY)
        .env_remove("REFRATE_CONFIG")
        .envs(aws_env(endpoint))
        .output()
        .unwrap()
}

#[test]
fn warehouse_in_s3_publishes_reads_locks_and_sweeps() {
    let moto = match start_moto() {
        Ok(m) => m,
        Err(why) => {
            assert!(
                std::env::var_os("REFRATE_REQUIRE_S3").is_none(),
                "REFRATE_REQUIRE_S3 is set but no S3 server could be started: {why}"
            );
            eprintln!(
                "SKIPPED warehouse_in_s3_publishes_reads_locks_and_sweeps: no S3 server ({why}); `pip install 'moto[server]'` to run it"
            );
            return;
        }
    };
    create_bucket(&moto.endpoint);
    let p = Project::new("");
    std::fs::write(
        p.config(),
        format!("warehouse: s3://{BUCKET}/wh\nreports: reports\ninputs:\n  - path: inputs/*.csv\n    kind: events\nretention: 0s\n"),
    )
    .unwrap();
    p.input(
        "april.csv",
        &[
            row(H3, "2025-04-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0]),
            row(H4, "2025-04-01", "first_visit", "B1", "", [0, 0, 0, 0, 0]),
        ],
    );
    let dir = p.dir.path();

    let out = refrate_s3(dir, &moto.endpoint, &["run"]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert!(stderr(&out).contains("warehouse version 1 (published)"), "{}", stderr(&out));
    assert!(!p.path("warehouse").exists(), "an S3 warehouse must not create a local folder");
    // DataFusion reads the Parquet files from S3.
    let months = stdout(&refrate_s3(dir, &moto.endpoint, &["rates", "--period", "month"]));
    assert_eq!(
        first_columns(&months, 8)[1..],
        [format!("{H3},2025-04,1,0,0,0,1,1"), format!("{H4},2025-04,1,0,0,0,1,0")]
    );

    // Same input: nothing new. Corrected input: version 2.
    let again = refrate_s3(dir, &moto.endpoint, &["run"]);
    assert!(stderr(&again).contains("warehouse version 1 (unchanged)"), "{}", stderr(&again));
    p.input("april.csv", &[row(H3, "2025-04-01", "first_visit", "A1", PARTNER, [1, 0, 0, 0, 0])]);
    let out = refrate_s3(dir, &moto.endpoint, &["run"]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert!(stderr(&out).contains("warehouse version 2 (published)"), "{}", stderr(&out));

    // The store as object_store sees it, with the same environment.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(BUCKET);
    for (k, v) in aws_env(&moto.endpoint) {
        builder = builder.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
    }
    let store = builder.build().unwrap();
    let listed: Vec<String> = rt.block_on(async {
        use futures::TryStreamExt;
        store.list(Some(&"wh".into())).map_ok(|o| o.location.to_string()).try_collect().await.unwrap()
    });
    let manifests: Vec<&String> = listed.iter().filter(|l| l.starts_with("wh/_manifest/")).collect();
    // The empty version 0 a first run writes before any data file, then versions 1 and 2.
    assert_eq!(manifests.len(), 3, "{listed:?}");
    // retention 0s: superseded lock generations are swept; the newest one stays, released.
    let locks: Vec<&String> = listed.iter().filter(|l| l.starts_with("wh/_lock/")).collect();
    assert_eq!(locks.len(), 1, "{listed:?}");
    let newest =
        rt.block_on(async { store.get(&locks[0].as_str().into()).await.unwrap().bytes().await.unwrap() });
    assert!(String::from_utf8_lossy(&newest).contains("released_at"), "{}", String::from_utf8_lossy(&newest));

    // A live holder's lock in S3 stops a run: PutMode::Create (If-None-Match: *) works here.
    let lock = serde_json::json!({
        "host": refrate::testing::host_name(), "pid": std::process::id(), "run_id": "s3-holder",
        "command": "run", "started_at": chrono::Utc::now().to_rfc3339(), "heartbeat_at": chrono::Utc::now().to_rfc3339(),
    });
    // The next lock generation after those the runs created.
    let generation = listed
        .iter()
        .filter_map(|l| l.strip_prefix("wh/_lock/v"))
        .filter_map(|v| v[..20].parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let held: object_store::path::Path =
        format!("wh/{}", refrate::testing::lock_object_name(generation)).into();
    rt.block_on(store.put(&held, PutPayload::from(lock.to_string().into_bytes()))).unwrap();
    p.input("may.csv", &[row(H3, "2025-05-01", "first_visit", "A2", PARTNER, [1, 0, 0, 0, 0])]);
    let out = refrate_s3(dir, &moto.endpoint, &["run"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("locked by") && stderr(&out).contains("s3-holder"), "{}", stderr(&out));
    let status = stdout(&refrate_s3(dir, &moto.endpoint, &["status"]));
    assert!(status.contains("version: 2") && status.contains("s3-holder"), "{status}");
    rt.block_on(store.delete(&held)).unwrap();
    let out = refrate_s3(dir, &moto.endpoint, &["run"]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    assert!(stderr(&out).contains("warehouse version 3 (published)"), "{}", stderr(&out));
    let out = refrate_s3(dir, &moto.endpoint, &["vacuum"]);
    assert_code(&out, 0);
}
