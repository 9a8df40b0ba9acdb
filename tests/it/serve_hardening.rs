//! `lab serve` against what issue 18 did to it, each through the real binary: the disk filling
//! under the server and freed again (B6), thousands of half-sent requests (B7), SIGTERM while a
//! client still sends its headers (B8), and large or repeated feedback (B9).

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::server::{Server, inferences, line_png, project, records, wait_for};
use serde_json::json;

/// B6: the log's disk fills while the server answers, then space is freed. redb refuses every
/// transaction after an I/O error until the database is reopened; the server reopens it, so
/// every answered inference ends up in the log exactly once, and stderr says what happened.
#[test]
fn a_disk_that_fills_and_is_freed_loses_no_inference_and_records_none_twice() {
    let p = project(1);
    let png = line_png(&p);
    let flag = p.path("disk-is-full");
    let mut srv = Server::start_env(
        &p,
        &["--addr", "127.0.0.1:0"],
        &[("LAB_FAULT_LOG_FULL", flag.to_str().unwrap())],
    );
    let mut ids = Vec::new();
    let mut ask = |srv: &Server| {
        let v = srv.ocr(&png, &[]);
        ids.push(v["request_id"].as_str().unwrap().to_string());
    };
    for _ in 0..3 {
        ask(&srv);
    }
    wait_for(
        "the first records in the log",
        Duration::from_secs(30),
        || srv.metric("lab_records_recorded_total") == Some(3.0),
    );

    // The disk fills: appends fail, answers go on.
    fs::write(&flag, b"").unwrap();
    for _ in 0..5 {
        ask(&srv);
    }
    wait_for("a failed append", Duration::from_secs(30), || {
        srv.metric("lab_record_append_errors_total")
            .is_some_and(|n| n >= 2.0)
    });
    srv.healthy();

    // Space is freed: the kept records and the later ones reach the log.
    fs::remove_file(&flag).unwrap();
    for _ in 0..5 {
        ask(&srv);
    }
    wait_for("every record in the log", Duration::from_secs(30), || {
        srv.metric("lab_records_recorded_total") == Some(13.0)
    });
    assert_eq!(srv.metric("lab_records_pending"), Some(0.0));
    let err = srv.stderr();
    assert!(err.contains("cannot append"), "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(err.contains("is written again"), "{err}");
    assert!(err.contains("reopened"), "{err}");

    assert_eq!(srv.signal(libc::SIGTERM), 0, "{}", srv.stderr());
    let logged: Vec<String> = inferences(&p)
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logged.len(), 13, "each answered inference once: {logged:?}");
    assert_eq!(
        logged.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
    p.ok(&["verify"]);
}

/// B6, the other end: records that cannot be appended by the time the server stops are an
/// error (non-zero exit, the count named), never a silent exit 0.
#[test]
fn records_still_unwritten_at_shutdown_are_an_error() {
    let p = project(1);
    let png = line_png(&p);
    let flag = p.path("disk-is-full");
    let mut srv = Server::start_env(
        &p,
        &["--addr", "127.0.0.1:0", "--shutdown-timeout", "2"],
        &[("LAB_FAULT_LOG_FULL", flag.to_str().unwrap())],
    );
    fs::write(&flag, b"").unwrap();
    srv.ocr(&png, &[]);
    srv.ocr(&png, &[]);
    let code = srv.signal(libc::SIGTERM);
    let err = srv.stderr();
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("2 served inference or feedback records"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    fs::remove_file(&flag).unwrap();
    assert!(inferences(&p).is_empty());
}

/// A request head cut off mid-header, as a slow or hostile client leaves it.
const HALF_SENT: &[u8] = b"POST /v1/ocr HTTP/1.1\r\nHost: lab\r\nContent-Le";

/// B7: thousands of half-sent requests (no token needed). The connection limit closes the
/// oldest connection that is not inside a request, so the server's file descriptors stay near
/// the limit and /healthz answers all along; the header timeout closes a half-sent request
/// that is left alone.
#[test]
fn half_sent_requests_neither_exhaust_file_descriptors_nor_silence_healthz() {
    let p = project(1);
    let png = line_png(&p);
    let limit = 32;
    let srv = Server::start(
        &p,
        &[
            "--addr",
            "127.0.0.1:0",
            "--max-connections",
            &limit.to_string(),
            "--header-timeout",
            "2",
        ],
    );
    srv.healthy();
    let base = srv.open_fds();
    let mut held = Vec::new();
    for i in 0..2000 {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        let _ = s.write_all(HALF_SENT);
        held.push(s);
        if i % 250 == 249 {
            srv.healthy();
            wait_for(
                "the server's descriptors near the limit",
                Duration::from_secs(20),
                || srv.open_fds() <= base + limit + 4,
            );
        }
    }
    srv.ocr(&png, &[]);
    assert!(
        srv.metric("lab_connections_evicted_total")
            .is_some_and(|n| n >= 1900.0),
        "{:?}",
        srv.metric("lab_connections_evicted_total")
    );
    // The oldest were closed by the server: they read the end of the stream.
    held[0]
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(matches!(held[0].read(&mut buf), Ok(0) | Err(_)));
    drop(held);

    // One half-sent request left alone is closed after the header timeout.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(HALF_SENT).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = s.read(&mut buf);
    assert!(
        r.is_ok(),
        "the server never closed a half-sent request: {r:?}"
    );
    srv.healthy();
}

/// B8: SIGTERM while one client still sends its headers and another its body. Accepting stops,
/// the half-sent head is closed, the request in progress has --shutdown-timeout to finish, and
/// the server exits 0 with every answered inference in the log.
#[test]
fn sigterm_while_clients_still_send_exits_in_bounded_time_with_every_record() {
    let p = project(1);
    let png = line_png(&p);
    let mut srv = Server::start(&p, &["--addr", "127.0.0.1:0", "--shutdown-timeout", "3"]);
    srv.ocr(&png, &[]);
    let mut head = TcpStream::connect(&srv.addr).unwrap();
    head.write_all(HALF_SENT).unwrap();
    let mut body = TcpStream::connect(&srv.addr).unwrap();
    body.write_all(b"POST /v1/ocr HTTP/1.1\r\nHost: lab\r\nContent-Length: 5000\r\n\r\n0123456789")
        .unwrap();
    wait_for("both clients connected", Duration::from_secs(20), || {
        // The /metrics request is the third connection.
        srv.metric("lab_connections_open").is_some_and(|n| n >= 3.0)
    });
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let code = srv.exit_within(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", srv.stderr());
    let err = srv.stderr();
    assert!(err.contains("still open after"), "{err}");
    assert_eq!(inferences(&p).len(), 1);
    drop((head, body));
}

/// B9: feedback bodies are bounded, and one answer takes one feedback: the same truth again
/// is not recorded again; a different one is recorded and counts instead of the first.
#[test]
fn feedback_is_bounded_and_one_per_answer() {
    let p = project(1);
    let png = line_png(&p);
    let mut srv = Server::start(&p, &["--addr", "127.0.0.1:0"]);
    let a = srv.ocr(&png, &[("X-Request-Id", "r-1")]);
    let huge = json!({"request_id": "r-1", "truth": "x".repeat(4_000_000)}).to_string();
    for _ in 0..3 {
        let (st, v) = srv.req("POST", "/v1/feedback", &[], huge.as_bytes());
        assert_eq!(st, 413, "{v}");
        assert!(v["error"].as_str().unwrap().contains("16384"), "{v}");
    }
    let same = json!({"request_id": "r-1", "truth": "surely not this"}).to_string();
    let mut recorded = Vec::new();
    for _ in 0..20 {
        let (st, v) = srv.req("POST", "/v1/feedback", &[], same.as_bytes());
        assert_eq!(st, 200, "{v}");
        recorded.push(v["recorded"].as_bool().unwrap());
    }
    assert_eq!(recorded.iter().filter(|r| **r).count(), 1, "{recorded:?}");
    let fix = json!({"request_id": "r-1", "truth": a["text"]}).to_string();
    let (st, v) = srv.req("POST", "/v1/feedback", &[], fix.as_bytes());
    assert_eq!(
        (st, &v["recorded"], &v["correct"]),
        (200, &json!(true), &json!(true))
    );

    // A client-chosen id cannot overwrite another answer.
    let (st, v) = srv.req("POST", "/v1/ocr", &[("X-Request-Id", "r-1")], &png);
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("r-1"), "{v}");

    assert_eq!(srv.signal(libc::SIGTERM), 0);
    let fb = records(&p, "feedback", "FeedbackRecorded");
    assert_eq!(fb.len(), 2, "{fb:?}");
    assert_eq!(
        (fb[0]["correct"].as_bool(), fb[1]["correct"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(fs::metadata(p.path(".lab/lab.redb")).unwrap().len() < 8 << 20);
}

/// A grey PNG of `w`×`h` pixels.
fn png_of(w: u32, h: u32) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Weak points of issue 18: the token from a file or LAB_SERVE_TOKEN rather than argv (seen by
/// `ps`); /healthz names the served models only with the token; /v1/ocr refuses an image of
/// more pixels than a line has, from its header.
#[test]
fn token_from_a_file_or_the_environment_healthz_without_names_and_a_pixel_cap() {
    let p = project(1);
    let png = line_png(&p);
    fs::write(p.path("token.txt"), "s3cret\n").unwrap();
    let srv = Server::start(&p, &["--addr", "0.0.0.0:0", "--token-file", "token.txt"]);
    let (st, v) = srv.req("GET", "/healthz", &[], b"");
    assert_eq!((st, v), (200, json!({"status": "ok"})));
    let auth = [("Authorization", "Bearer s3cret")];
    let (_, v) = srv.req("GET", "/healthz", &auth, b"");
    assert!(
        v["serving"].as_str().unwrap().contains("ocr_teacher"),
        "{v}"
    );
    srv.ocr(&png, &auth);
    assert_eq!(srv.req("POST", "/v1/ocr", &[], &png).0, 401);
    let (st, v) = srv.req("POST", "/v1/ocr", &auth, &png_of(8000, 600));
    assert_eq!(st, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("8000×600"), "{v}");
    drop(srv);

    let srv = Server::start_env(
        &p,
        &["--addr", "0.0.0.0:0"],
        &[("LAB_SERVE_TOKEN", "from-env")],
    );
    assert_eq!(srv.req("POST", "/v1/ocr", &auth, &png).0, 401);
    srv.ocr(&png, &[("Authorization", "Bearer from-env")]);
    drop(srv);

    p.fails_env(&[("LAB_SERVE_TOKEN", "a")], &["serve", "--token", "b"])
        .stderr_has(&["LAB_SERVE_TOKEN", "twice"]);
    fs::write(p.path("empty.txt"), "\n").unwrap();
    p.fails(&["serve", "--token-file", "empty.txt"])
        .stderr_has(&["empty.txt", "empty"]);
    p.fails(&["serve", "--token-file", "nowhere.txt"])
        .stderr_has(&["nowhere.txt", "--token-file"]);
    p.fails(&["serve", "--max-connections", "0"])
        .stderr_has(&["--max-connections"]);
}
