//! SQLite's disk fills up. The database lives on a tmpfs of its own, a few
//! megabytes big; a filler file takes what is left. Then:
//! - every send is refused with the `storage_full` ack, none is acked;
//! - reads (history, rooms) keep being served;
//! - once the filler is removed, sends work again without a restart;
//! - nothing stored was lost or damaged (`PRAGMA integrity_check`, history
//!   holds exactly the acked messages).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

/// A small tmpfs mounted on a temporary directory, unmounted on drop (also
/// when the test fails half-way).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (with the reason printed) where mounting is not permitted.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "parley-fault-tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => {
                eprintln!("skipped: cannot mount a tmpfs here ({})", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy, so a file still open (a server that outlived the test) cannot
        // keep the mount.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem: one file as big as the free space allows.
fn fill(path: &Path) -> PathBuf {
    use std::io::Write;
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0xa5u8; 64 * 1024];
    // Whole chunks, then single KiB, until the disk says no.
    for size in [chunk.len(), 1024, 1] {
        while f.write_all(&chunk[..size]).is_ok() {}
    }
    let _ = f.sync_all();
    filler
}

#[tokio::test]
async fn a_full_disk_refuses_sends_clearly_keeps_reads_and_recovers_when_space_returns() {
    if !crate::enabled() {
        return;
    }
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let db_path = disk.path().join("parley.db");
    let app = spawn_app_with(|s| {
        s.database_url = format!("sqlite:{}", db_path.display());
        // Redis plays no part here.
        s.redis_url = None;
    })
    .await;
    let (http, ann) = app.connected("ann").await;
    let general = room_id(&http, "General").await;
    join(&ann, general).await;

    let mut acked: Vec<(String, i64)> = Vec::new();
    let send = async |text: String| {
        let client_id: String = text.chars().take(12).collect();
        let ack = ann
            .emit_with_ack("send_message", json!({"room_id": general, "message": text, "client_id": client_id}), WAIT)
            .await
            .expect("an ack, ok or not");
        (text, ack)
    };
    for i in 0..20 {
        let (text, ack) = send(format!("before-{i}")).await;
        assert_eq!(ack["ok"], true, "{ack}");
        acked.push((text, ack["id"].as_i64().unwrap()));
    }

    // The disk fills. SQLite may still find room in pages and WAL frames it
    // already has, so send (4,000 characters each) until it is refused.
    let filler = fill(disk.path());
    let big = "x".repeat(3990);
    let started = Instant::now();
    let mut refused = None;
    for i in 0..2000 {
        assert!(started.elapsed() < Duration::from_secs(60), "still accepting sends after {i}");
        let (text, ack) = send(format!("fill-{i:04}{big}")).await;
        if ack["ok"] == true {
            acked.push((text, ack["id"].as_i64().unwrap()));
        } else {
            refused = Some(ack);
            break;
        }
    }
    let refused = refused.expect("a send was refused before 2,000 sends");
    assert_eq!(error_code(&refused), "storage_full", "{refused}");
    eprintln!("disk full after {} acked sends: {refused}", acked.len());
    // And it stays refused, with the same clear answer, while the disk is full.
    for i in 0..5 {
        let (_, ack) = send(format!("during-{i}")).await;
        assert_eq!(error_code(&ack), "storage_full", "{ack}");
    }

    // Reads are served meanwhile.
    let (status, history) = http.get_json(&format!("/api/messages/{general}?limit=5")).await.unwrap();
    assert_eq!(status, 200, "history while the disk is full: {history}");
    let (status, _) = http.get_json("/api/rooms").await.unwrap();
    assert_eq!(status, 200);
    let healthz = http.inner().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);

    // Space returns: sends work again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    for i in 0..5 {
        let (text, ack) = send(format!("after-{i}")).await;
        assert_eq!(ack["ok"], true, "after the space returned: {ack}");
        acked.push((text, ack["id"].as_i64().unwrap()));
    }

    // Nothing acked was lost, nothing refused was stored, nothing is damaged.
    let mut stored: Vec<(String, i64)> = Vec::new();
    let mut after = 0;
    for _ in 0..100 {
        let (status, page) = http.get_json(&format!("/api/messages/{general}?after={after}&limit=200")).await.unwrap();
        assert_eq!(status, 200);
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for m in &page {
            if m["message_type"] == "text" {
                stored.push((m["message"].as_str().unwrap().to_owned(), m["id"].as_i64().unwrap()));
            }
        }
        after = page.last().unwrap()["id"].as_i64().unwrap();
    }
    assert_eq!(stored.len(), acked.len(), "exactly the acked messages are stored");
    assert_eq!(stored, acked, "in order, with the acked ids");
    let check = rusqlite::Connection::open(&db_path)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
        .expect("integrity_check runs");
    assert_eq!(check, "ok");
}
