//! Storage faults, against the binary: files iamlite did not write (random bytes, another
//! program's SQLite database, a newer schema, a truncated database) are refused at start with a
//! message naming the path and the fault, and left byte for byte as they were; `iamlite check`
//! says the same with exit code 1, and describes a sound database with exit code 0.
//!
//! The `#[ignore]`d tests need root (they mount file systems) and run in CI with
//! `cargo test --test storage_faults -- --include-ignored`:
//! * a 3 MiB tmpfs filled by concurrent writers: every acknowledged write is there, reads and
//!   authentication are served throughout, writes get 503 `ServiceUnavailable` with
//!   `Retry-After`, `/_iamlite/health` says `read-only: disk full`, writing resumes by itself
//!   once the tmpfs is grown, and a restart on the full disk starts read-only (banner) and serves;
//! * an ext4 image remounted read-only under load by an error (`errors=remount-ro`, triggered
//!   through ext4's `trigger_fs_error`): the same, then after fsck every acknowledged write is
//!   there. (`mount -o remount,ro` is refused by Linux while a file is open for writing, so an
//!   error remount is the way a disk becomes read-only under a running server.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/process.rs"]
mod process;

use aws_sdk_iam::error::ProvideErrorMetadata;
use process::{Binary, all_user_names, binary_path, root_iam_at, sts_at};
use rand::RngCore;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs the binary to completion (it must not start serving) and returns what it said.
fn start_must_fail(db: &Path) -> Output {
    let mut child = Command::new(binary_path())
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("iamlite started on {}", db.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn check(db: &Path) -> Output {
    Command::new(binary_path())
        .arg("check")
        .arg("--db")
        .arg(db)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Start and `check` both refuse `db` with `message`, and the file is unchanged.
fn refused(db: &Path, message: &str) {
    let before = std::fs::read(db).unwrap();
    let out = start_must_fail(db);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("iamlite: {message}"),
        "start-up error"
    );
    let out = check(db);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(text(&out.stderr).trim(), format!("iamlite: {message}"));
    assert!(text(&out.stdout).ends_with("result: not usable\n"));
    assert!(
        std::fs::read(db).unwrap() == before,
        "{} was changed",
        db.display()
    );
}

/// A database written by iamlite with `users` users, closed (its WAL folded in).
async fn iamlite_database(dir: &Path, users: usize) -> PathBuf {
    let db = dir.join("iamlite.db");
    let server = iamlite::Server::builder().db(&db).start().await.unwrap();
    let iam = root_iam_at(&server.endpoint());
    for i in 0..users {
        iam.create_user()
            .user_name(format!("user-{i:04}"))
            .path(format!("/{}/", "p".repeat(200)))
            .send()
            .await
            .unwrap();
    }
    server.shutdown().await;
    db
}

#[test]
fn random_bytes_are_not_an_iamlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let mut bytes = vec![0u8; 64 * 1024];
    rand::rng().fill_bytes(&mut bytes);
    std::fs::write(&db, &bytes).unwrap();
    refused(
        &db,
        &format!(
            "{} is not an iamlite database (file is not a database)",
            db.display()
        ),
    );
}

#[test]
fn another_programs_sqlite_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(conn);
    refused(
        &db,
        &format!(
            "{} is not an iamlite database (an SQLite database with 1 other schema objects)",
            db.display()
        ),
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = iamlite_database(dir.path(), 1).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    refused(
        &db,
        &format!(
            "{} was written by a newer iamlite (schema version 99); this iamlite understands \
             schema version {} and older; nothing was changed. Upgrade iamlite or use another --db.",
            db.display(),
            iamlite::store::SCHEMA_VERSION
        ),
    );
}

#[tokio::test]
async fn a_truncated_database_is_named_damaged_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = iamlite_database(dir.path(), 300).await;
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 64 * 1024, "the database is big enough to cut: {len}");
    let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = std::fs::read(&db).unwrap();
    let out = start_must_fail(&db);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let prefix = format!("iamlite: {} is damaged (integrity check: ", db.display());
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.trim_end()
            .ends_with("); restore it or start with --db elsewhere; nothing was changed"),
        "{err}"
    );
    let out = check(&db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&prefix),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("\nintegrity: "),
        "{}",
        text(&out.stdout)
    );
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the file was changed"
    );
}

#[tokio::test]
async fn check_describes_a_sound_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = iamlite_database(dir.path(), 3).await;
    let out = check(&db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with(&format!("database: {} (", db.display())));
    assert!(lines[1].starts_with("free space: ") && lines[1].ends_with("(read-write file system)"));
    assert_eq!(
        &lines[2..],
        [
            format!(
                "schema version: {0} (this iamlite writes {0})",
                iamlite::store::SCHEMA_VERSION
            )
            .as_str(),
            "integrity: ok",
            "counts: 1 accounts, 3 users, 1 access keys, 0 sessions, 0 MFA devices",
            "result: ok",
        ]
    );
    let missing = check(&dir.path().join("nothing.db"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).starts_with("iamlite: no database at "));
}

// --- file systems that fill up or turn read-only (root) ------------------------------------------

fn sh(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program} is required: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// A mount point that is unmounted (with its loop device, if any) when dropped.
struct Mount {
    dir: tempfile::TempDir,
    loop_device: Option<String>,
}

impl Mount {
    fn tmpfs(size: &str) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let opts = format!("size={size},mode=0700");
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &opts,
                "tmpfs",
                dir.path().to_str().unwrap(),
            ],
        );
        Mount {
            dir,
            loop_device: None,
        }
    }

    /// A fresh ext4 file system on a loop device, remounted read-only on any error.
    fn ext4(image: &Path, size_mb: u64) -> Mount {
        let file = std::fs::File::create(image).unwrap();
        file.set_len(size_mb * 1024 * 1024).unwrap();
        drop(file);
        sh("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .output()
            .expect("losetup is required");
        assert!(out.status.success(), "losetup: {}", text(&out.stderr));
        let device = text(&out.stdout).trim().to_string();
        let dir = tempfile::tempdir().unwrap();
        sh(
            "mount",
            &[
                "-o",
                "errors=remount-ro",
                &device,
                dir.path().to_str().unwrap(),
            ],
        );
        Mount {
            dir,
            loop_device: Some(device),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let opts = format!("remount,size={size}");
        sh("mount", &["-o", &opts, self.path().to_str().unwrap()]);
    }

    /// Shrinks the tmpfs to what its files use plus `spare` MiB.
    fn resize_to_used_plus(&self, spare: u64) {
        let used: u64 = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        self.resize(&format!("{}k", used / 1024 + spare * 1024));
    }

    fn unmount(&self) {
        sh("umount", &[self.path().to_str().unwrap()]);
    }

    fn mount_again(&self) {
        let device = self.loop_device.as_deref().unwrap();
        sh(
            "mount",
            &[
                "-o",
                "errors=remount-ro",
                device,
                self.path().to_str().unwrap(),
            ],
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
        if let Some(device) = &self.loop_device {
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
    }
}

async fn storage_health(endpoint: &str) -> String {
    let url = format!("{endpoint}/_iamlite/health");
    let body = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sf", &url])
            .output()
            .expect("curl is required")
    })
    .await
    .unwrap();
    assert!(body.status.success(), "health: {}", text(&body.stderr));
    let health: serde_json::Value = serde_json::from_slice(&body.stdout).unwrap();
    health["storage"].as_str().unwrap().to_string()
}

/// Writers that create users until told to stop; they keep the names acknowledged with a 200 and
/// check that every refusal is 503 `ServiceUnavailable` with `Retry-After`.
struct Writers {
    acknowledged: Arc<Mutex<BTreeSet<String>>>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(endpoint: &str, count: usize, prefix: &str) -> Writers {
        use std::sync::atomic::Ordering;
        let writers = Writers {
            acknowledged: Arc::default(),
            refused: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for w in 0..count {
            let iam = root_iam_at(endpoint);
            let acknowledged = writers.acknowledged.clone();
            let refused = writers.refused.clone();
            let stop = writers.stop.clone();
            let prefix = prefix.to_string();
            tasks.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("{prefix}-{w}-{i}");
                    i += 1;
                    let created = iam
                        .create_user()
                        .user_name(&name)
                        .path(format!("/{}/", "p".repeat(400)))
                        .set_tags(Some(
                            (0..10)
                                .map(|t| {
                                    aws_sdk_iam::types::Tag::builder()
                                        .key(format!("k{t}"))
                                        .value("v".repeat(200))
                                        .build()
                                        .unwrap()
                                })
                                .collect(),
                        ))
                        .send()
                        .await;
                    match created {
                        Ok(_) => {
                            acknowledged.lock().unwrap().insert(name);
                        }
                        Err(e) => {
                            let raw = e.raw_response().expect("an HTTP answer");
                            assert_eq!(raw.status().as_u16(), 503, "{e:?}");
                            assert_eq!(raw.headers().get("retry-after"), Some("1"));
                            assert_eq!(e.code(), Some("ServiceUnavailable"));
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        Writers { tasks, ..writers }
    }

    fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn wait_for_refusals(&self, at_least: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.refused() < at_least {
            assert!(Instant::now() < deadline, "writes never failed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) -> BTreeSet<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            t.await.unwrap();
        }
        self.acknowledged()
    }

    /// The names acknowledged so far.
    fn acknowledged(&self) -> BTreeSet<String> {
        self.acknowledged.lock().unwrap().clone()
    }
}

/// Every acknowledged name is listed, reads and authentication work.
async fn reads_are_served(endpoint: &str, acknowledged: &BTreeSet<String>) {
    let listed: BTreeSet<String> = all_user_names(&root_iam_at(endpoint))
        .await
        .into_iter()
        .collect();
    let lost: Vec<_> = acknowledged.difference(&listed).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let who = sts_at(endpoint, process::ROOT_KEY_ID, process::ROOT_SECRET)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("123456789012"));
}

async fn wait_for_storage(endpoint: &str, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        if storage_health(endpoint).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "storage never became {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root: mounts a tmpfs (CI runs it with --include-ignored)"]
async fn a_full_disk_keeps_reads_loses_nothing_and_recovers_when_space_returns() {
    let mount = Mount::tmpfs("3m");
    let db = mount.path().join("iamlite.db");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = Binary::spawn(&db, log.path(), "iamlite=info");
    let endpoint = server.endpoint();

    // Fill it under 8 concurrent writers, then keep them writing into the full disk a while.
    let writers = Writers::start(&endpoint, 8, "fill");
    writers.wait_for_refusals(40).await;
    assert_eq!(storage_health(&endpoint).await, "read-only: disk full");
    let so_far = writers.acknowledged();
    reads_are_served(&endpoint, &so_far).await;
    let mut acknowledged = writers.stop().await;
    assert!(acknowledged.len() > 20, "{} writes", acknowledged.len());
    let log_text = server.log();
    assert!(
        log_text.contains(&format!(
            "disk full at {} (0 bytes free); writes fail until this clears",
            db.display()
        )),
        "{log_text}"
    );

    // While full, a delete that needs room is refused like any write, and changes nothing.
    let iam = root_iam_at(&endpoint);
    let victim = acknowledged.iter().next().unwrap().clone();
    match iam.delete_user().user_name(&victim).send().await {
        Ok(_) => {
            acknowledged.remove(&victim);
        }
        Err(e) => assert_eq!(e.code(), Some("ServiceUnavailable"), "{e:?}"),
    }
    reads_are_served(&endpoint, &acknowledged).await;

    // Space returns: writing resumes by itself.
    mount.resize("16m");
    let recovery = wait_for_storage(&endpoint, "ok").await;
    println!(
        "recovery after the tmpfs was grown: {} ms",
        recovery.as_millis()
    );
    iam.create_user()
        .user_name("after-growth")
        .send()
        .await
        .unwrap();
    acknowledged.insert("after-growth".into());
    reads_are_served(&endpoint, &acknowledged).await;

    // Full again, and a restart on the full disk: it starts read-only and says so.
    mount.resize_to_used_plus(1);
    let writers = Writers::start(&endpoint, 8, "refill");
    writers.wait_for_refusals(20).await;
    acknowledged.extend(writers.stop().await);
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "{status}; {}", server.log());
    drop(server);
    let mut server = Binary::spawn(&db, log.path(), "iamlite=info");
    let endpoint = server.endpoint();
    let banner = server.banner_lines(2);
    assert!(
        banner.contains("storage:     READ-ONLY (disk full): reads are served"),
        "{banner}"
    );
    assert_eq!(storage_health(&endpoint).await, "read-only: disk full");
    reads_are_served(&endpoint, &acknowledged).await;
    let e = root_iam_at(&endpoint)
        .create_user()
        .user_name("while-full")
        .path(format!("/{}/", "p".repeat(400)))
        .send()
        .await;
    if e.is_ok() {
        acknowledged.insert("while-full".into());
    }
    mount.resize("16m");
    wait_for_storage(&endpoint, "ok").await;
    root_iam_at(&endpoint)
        .create_user()
        .user_name("after-restart")
        .send()
        .await
        .unwrap();
    acknowledged.insert("after-restart".into());
    reads_are_served(&endpoint, &acknowledged).await;
    server.sigterm();
    assert!(
        server
            .wait_exit(Duration::from_secs(15))
            .await
            .unwrap()
            .success()
    );
    let out = check(&db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    println!("acknowledged writes: {}, lost: 0", acknowledged.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root: mounts an ext4 loop device (CI runs it with --include-ignored)"]
async fn a_disk_remounted_read_only_under_load_keeps_reads_and_loses_nothing() {
    let work = tempfile::tempdir().unwrap();
    let mount = Mount::ext4(&work.path().join("ext4.img"), 32);
    let db = mount.path().join("iamlite.db");
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = Binary::spawn(&db, log.path(), "iamlite=info");
    let endpoint = server.endpoint();

    let writers = Writers::start(&endpoint, 8, "load");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let device = mount.loop_device.as_deref().unwrap();
    let name = Path::new(device).file_name().unwrap().to_str().unwrap();
    std::fs::write(
        format!("/sys/fs/ext4/{name}/trigger_fs_error"),
        "iamlite storage fault test",
    )
    .expect("ext4's trigger_fs_error is required");
    writers.wait_for_refusals(40).await;
    assert_eq!(
        storage_health(&endpoint).await,
        "read-only: read-only file system"
    );
    let so_far = writers.acknowledged();
    reads_are_served(&endpoint, &so_far).await;
    let acknowledged = writers.stop().await;
    assert!(acknowledged.len() > 20, "{} writes", acknowledged.len());
    assert!(
        server
            .log()
            .contains(&format!("{} is on a read-only file system", db.display())),
        "{}",
        server.log()
    );
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(15)).await.is_some());
    drop(server);

    // What an operator does: unmount, fsck, mount; then nothing acknowledged is missing.
    mount.unmount();
    let fsck = Command::new("e2fsck")
        .args(["-f", "-y", mount.loop_device.as_deref().unwrap()])
        .output()
        .expect("e2fsck is required");
    assert!(
        matches!(fsck.status.code(), Some(0 | 1)),
        "{}",
        text(&fsck.stdout)
    );
    mount.mount_again();
    let out = check(&db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let server = Binary::spawn(&db, log.path(), "iamlite=info");
    reads_are_served(&server.endpoint(), &acknowledged).await;
    println!("acknowledged writes: {}, lost: 0", acknowledged.len());
}
