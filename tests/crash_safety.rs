//! Crash safety: an acknowledged write survives `kill -9`.
//!
//! Each cycle starts the `iamlite` binary on the same database file, runs concurrent CreateUser,
//! CreateAccessKey and UpdateAccessKey calls from several tasks through the real aws-sdk-iam,
//! records every write that was acknowledged (a 200) with what it returned, and SIGKILLs the
//! process at a random moment 50–500 ms in. Then:
//!
//! * `PRAGMA integrity_check` on the file, through rusqlite, must say `ok`;
//! * the file, opened with `iamlite::store::Store`, must hold the users and keys acknowledged since
//!   the previous kill, each key with its secret and its last acknowledged status (or the status of
//!   an update that was in flight at the kill, which may or may not have committed); every tenth of
//!   the run (at least every 10 cycles) and after the last kill, every write acknowledged so far is
//!   compared with a whole export instead;
//! * the restarted server must show the users and keys written since the previous check (GetUser,
//!   ListAccessKeys with the status), each Active key's secret must still sign a GetCallerIdentity,
//!   and an Inactive key must be refused; at the same cadence ListUsers must list every user.
//!
//! After the last cycle the restarted server checks everything, then stops on SIGTERM with exit 0.
//! A second test does the same for OUTSCALE's expiration dates: each acknowledged change of a key's
//! expiration, made through the OUTSCALE API, is there after a kill -9.
//! `IAMLITE_KILL_CYCLES` sets the number of cycles (default 20; e.g. 1000 for a soak: about
//! 23 minutes and 160,000 acknowledged writes in a debug build on 2 cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/osc_signer.rs"]
mod osc_signer;
#[path = "common/process.rs"]
mod process;
#[path = "common/signer.rs"]
mod signer;

use aws_sdk_iam::types::StatusType;
use iamlite::Storage;
use iamlite::model::{KeyStatus, Principal};
use iamlite::store::Store;
use process::{Binary, ROOT_KEY_ID, ROOT_SECRET, all_user_names, iam_at, root_iam_at, sts_at};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ACCOUNT_ID: &str = "123456789012";
const WORKERS: usize = 6;
const DEFAULT_CYCLES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Inactive,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Inactive => "Inactive",
        }
    }

    fn sdk(self) -> StatusType {
        match self {
            Status::Active => StatusType::Active,
            Status::Inactive => StatusType::Inactive,
        }
    }

    fn flipped(self) -> Status {
        match self {
            Status::Active => Status::Inactive,
            Status::Inactive => Status::Active,
        }
    }
}

#[derive(Debug)]
struct Key {
    user: String,
    secret: String,
    /// The last acknowledged status.
    status: Status,
    /// An update sent but not acknowledged (the kill came first): it may or may not have committed.
    pending: Option<Status>,
    /// Checked through the SDK since its last acknowledged change.
    sdk_checked: bool,
}

/// Every acknowledged write, as the clients saw it.
#[derive(Debug, Default)]
struct Model {
    /// User name → checked through the SDK.
    users: BTreeMap<String, bool>,
    keys: BTreeMap<String, Key>,
    /// Key ids by the worker that owns them (only that worker updates them).
    keys_by_worker: HashMap<usize, Vec<String>>,
    /// Users acknowledged since the last file check.
    new_users: Vec<String>,
    /// Keys created, updated or with an update in flight since the last file check.
    touched_keys: BTreeSet<String>,
    /// Acknowledged writes not yet checked after a kill: (users, keys, updates).
    unchecked: (usize, usize, usize),
    /// Acknowledged writes checked after a kill.
    checked: usize,
    /// Error answers from a live server (never expected).
    unexpected: Vec<String>,
}

type Shared = Arc<Mutex<Model>>;

fn lock(model: &Shared) -> std::sync::MutexGuard<'_, Model> {
    model.lock().unwrap()
}

/// Records a failed call: an error *answer* is a bug; a broken connection is the kill.
async fn failed<E: std::fmt::Debug>(
    model: &Shared,
    what: &str,
    err: &aws_sdk_iam::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) {
    match err.raw_response().map(|r| r.status().as_u16()) {
        Some(status) if status != 200 => {
            lock(model)
                .unexpected
                .push(format!("{what}: the server answered {status}: {err:?}"));
        }
        // No answer (connection refused or reset): the server is gone. Do not spin.
        _ => tokio::time::sleep(Duration::from_millis(5)).await,
    }
}

async fn worker(
    worker: usize,
    cycle: usize,
    endpoint: String,
    model: Shared,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let iam = root_iam_at(&endpoint);
    let mut rng = StdRng::seed_from_u64(seed);
    // This cycle's users of this worker, with how many keys each may already have.
    let mut users: Vec<(String, usize)> = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.random_range(0..10);
        if users.is_empty() || roll < 3 {
            let name = format!("c{cycle}-w{worker}-u{n}");
            n += 1;
            match iam.create_user().user_name(&name).send().await {
                Ok(out) => {
                    assert_eq!(out.user.unwrap().user_name, name);
                    let mut m = lock(&model);
                    m.users.insert(name.clone(), false);
                    m.new_users.push(name.clone());
                    m.unchecked.0 += 1;
                    users.push((name, 0));
                }
                Err(e) => failed(&model, "CreateUser", &e).await,
            }
        } else if roll < 7 {
            let open: Vec<usize> = (0..users.len()).filter(|&i| users[i].1 < 2).collect();
            if open.is_empty() {
                continue;
            }
            let i = open[rng.random_range(0..open.len())];
            let user = users[i].0.clone();
            match iam.create_access_key().user_name(&user).send().await {
                Ok(out) => {
                    let key = out.access_key.unwrap();
                    assert_eq!(key.status, StatusType::Active);
                    let mut m = lock(&model);
                    m.keys.insert(
                        key.access_key_id.clone(),
                        Key {
                            user,
                            secret: key.secret_access_key,
                            status: Status::Active,
                            pending: None,
                            sdk_checked: false,
                        },
                    );
                    m.touched_keys.insert(key.access_key_id.clone());
                    m.keys_by_worker
                        .entry(worker)
                        .or_default()
                        .push(key.access_key_id);
                    m.unchecked.1 += 1;
                    users[i].1 += 1;
                }
                Err(e) => {
                    // A key may or may not exist now; leave this user alone.
                    users[i].1 = 2;
                    failed(&model, "CreateAccessKey", &e).await;
                }
            }
        } else {
            let target = {
                let mut m = lock(&model);
                let ids = m.keys_by_worker.get(&worker).map_or(&[][..], Vec::as_slice);
                if ids.is_empty() {
                    None
                } else {
                    let id = ids[rng.random_range(0..ids.len())].clone();
                    let key = m.keys.get_mut(&id).unwrap();
                    if key.pending.is_some() {
                        None
                    } else {
                        let next = key.status.flipped();
                        key.pending = Some(next);
                        let user = key.user.clone();
                        m.touched_keys.insert(id.clone());
                        Some((id, user, next))
                    }
                }
            };
            let Some((id, user, next)) = target else {
                continue;
            };
            match iam
                .update_access_key()
                .user_name(&user)
                .access_key_id(&id)
                .status(next.sdk())
                .send()
                .await
            {
                Ok(_) => {
                    let mut m = lock(&model);
                    let key = m.keys.get_mut(&id).unwrap();
                    key.status = next;
                    key.pending = None;
                    key.sdk_checked = false;
                    m.unchecked.2 += 1;
                }
                // The update stays pending: it may have committed before the kill.
                Err(e) => failed(&model, "UpdateAccessKey", &e).await,
            }
        }
    }
}

/// What the killed server left on disk, read either from a whole export or key by key.
enum Disk {
    Export {
        users: HashSet<String>,
        /// Key id → (user name, secret, status).
        keys: HashMap<String, (String, String, String)>,
    },
    Store(Store),
}

impl Disk {
    async fn user_exists(&self, name: &str) -> bool {
        match self {
            Disk::Export { users, .. } => users.contains(name),
            Disk::Store(store) => store.get_user(ACCOUNT_ID, name).await.is_ok(),
        }
    }

    async fn key(&self, id: &str) -> Option<(String, String, String)> {
        match self {
            Disk::Export { keys, .. } => keys.get(id).cloned(),
            Disk::Store(store) => store.credential(id).await.unwrap().map(|c| {
                let owner = match c.principal {
                    Principal::User { name, .. } => name,
                    Principal::Root => "(root)".to_string(),
                };
                (
                    owner,
                    c.secret.expose().to_string(),
                    c.status.as_str().to_string(),
                )
            }),
        }
    }
}

/// The database file, straight after the kill: sound, and holding every acknowledged write.
/// `full` compares everything with a whole export; otherwise only the users and keys written
/// (or in flight) since the previous check are looked up.
// The server is dead by now and nothing else touches the model, so holding its lock across the
// store's reads blocks no one.
#[allow(clippy::await_holding_lock)]
async fn check_file(db: &Path, model: &Shared, cycle: usize, full: bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "cycle {cycle}: PRAGMA integrity_check");
    drop(conn);

    let store = Store::open(&Storage::File(db.to_path_buf())).unwrap();
    if full {
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
    let root = store
        .credential(ROOT_KEY_ID)
        .await
        .unwrap()
        .expect("the root key");
    assert!(
        matches!(root.principal, Principal::Root) && root.status == KeyStatus::Active,
        "cycle {cycle}: the root key"
    );
    let mut m = lock(model);
    let (users, keys): (Vec<String>, Vec<String>) = if full {
        m.new_users.clear();
        m.touched_keys.clear();
        (
            m.users.keys().cloned().collect(),
            m.keys.keys().cloned().collect(),
        )
    } else {
        (
            std::mem::take(&mut m.new_users),
            std::mem::take(&mut m.touched_keys).into_iter().collect(),
        )
    };
    let disk = if full {
        let state = store.export().await.unwrap();
        store.close();
        let account = state
            .accounts
            .into_iter()
            .find(|a| a.id == ACCOUNT_ID)
            .expect("the default account");
        let mut disk_users = HashSet::new();
        let mut disk_keys = HashMap::new();
        for user in account.users {
            for key in user.access_keys {
                disk_keys.insert(
                    key.access_key_id,
                    (user.name.clone(), key.secret_access_key, key.status),
                );
            }
            disk_users.insert(user.name);
        }
        Disk::Export {
            users: disk_users,
            keys: disk_keys,
        }
    } else {
        Disk::Store(store)
    };
    for name in &users {
        assert!(
            disk.user_exists(name).await,
            "cycle {cycle}: acknowledged user {name} is missing after the kill"
        );
    }
    for id in &keys {
        let key = m.keys.get_mut(id).unwrap();
        let Some((owner, secret, status)) = disk.key(id).await else {
            panic!(
                "cycle {cycle}: acknowledged key {id} of {} is missing after the kill",
                key.user
            );
        };
        assert_eq!(owner, key.user, "cycle {cycle}: owner of {id}");
        assert_eq!(secret, key.secret, "cycle {cycle}: secret of {id}");
        let allowed = [Some(key.status), key.pending];
        assert!(
            allowed.iter().flatten().any(|s| s.as_str() == status),
            "cycle {cycle}: key {id} is {status}, but the last acknowledged status is {:?} (in flight: {:?})",
            key.status,
            key.pending
        );
        // What is on disk now is the baseline for the next cycle.
        if key.pending.take().is_some() {
            key.status = if status == "Active" {
                Status::Active
            } else {
                Status::Inactive
            };
            key.sdk_checked = false;
        }
    }
    if let Disk::Store(store) = disk {
        store.close();
    }
    let (users, keys, updates) = std::mem::take(&mut m.unchecked);
    m.checked += users + keys + updates;
}

/// Through the restarted server: users listed, keys listed with their status, Active keys still
/// sign, Inactive keys are refused. `everything` rechecks what was checked in earlier cycles too;
/// `list_all` also pages through ListUsers for every acknowledged user.
async fn check_server(server: &Binary, model: &Shared, everything: bool, list_all: bool) {
    let endpoint = server.endpoint();
    let iam = root_iam_at(&endpoint);
    let listed: BTreeSet<String> = if list_all {
        all_user_names(&iam).await.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let (users, keys_by_user) = {
        let mut m = lock(model);
        if list_all {
            for name in m.users.keys() {
                assert!(
                    listed.contains(name),
                    "ListUsers misses acknowledged user {name}"
                );
            }
        }
        let users: Vec<String> = m
            .users
            .iter_mut()
            .filter(|(_, checked)| everything || !**checked)
            .map(|(name, checked)| {
                *checked = true;
                name.clone()
            })
            .collect();
        let mut keys_by_user: BTreeMap<String, Vec<(String, String, Status)>> = BTreeMap::new();
        for (id, key) in m.keys.iter_mut() {
            if everything || !key.sdk_checked {
                key.sdk_checked = true;
                keys_by_user.entry(key.user.clone()).or_default().push((
                    id.clone(),
                    key.secret.clone(),
                    key.status,
                ));
            }
        }
        (users, keys_by_user)
    };
    // Users with keys to check are listed with ListAccessKeys anyway; the rest with GetUser.
    let semaphore = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for user in users.iter().filter(|u| !keys_by_user.contains_key(*u)) {
        let (iam, user, permit) = (iam.clone(), user.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = permit.acquire().await.unwrap();
            let out = iam.get_user().user_name(&user).send().await.unwrap();
            assert_eq!(out.user.unwrap().user_name, user);
        });
    }
    for (user, keys) in keys_by_user {
        let (iam, endpoint, permit) = (iam.clone(), endpoint.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = permit.acquire().await.unwrap();
            let listed: HashMap<String, StatusType> = iam
                .list_access_keys()
                .user_name(&user)
                .send()
                .await
                .unwrap()
                .access_key_metadata()
                .iter()
                .map(|k| {
                    (
                        k.access_key_id().unwrap().to_string(),
                        k.status().unwrap().clone(),
                    )
                })
                .collect();
            for (id, secret, status) in keys {
                assert_eq!(
                    listed.get(&id),
                    Some(&status.sdk()),
                    "ListAccessKeys for {user}: key {id} should be {status:?}"
                );
                let me = sts_at(&endpoint, &id, &secret)
                    .get_caller_identity()
                    .send()
                    .await;
                match status {
                    Status::Active => {
                        let me = me.unwrap_or_else(|e| {
                            panic!("Active key {id} of {user} no longer signs: {e:?}")
                        });
                        assert_eq!(
                            me.arn(),
                            Some(format!("arn:aws:iam::{ACCOUNT_ID}:user/{user}").as_str())
                        );
                    }
                    Status::Inactive => {
                        let err = me.expect_err("an Inactive key is refused");
                        let status = err.raw_response().map(|r| r.status().as_u16());
                        assert_eq!(status, Some(403), "Inactive key {id}: {err:?}");
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_at_random_moments() {
    let cycles = std::env::var("IAMLITE_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_CYCLES);
    let seed: u64 = std::env::var("IAMLITE_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash safety: {cycles} cycles, seed {seed} (IAMLITE_KILL_SEED to repeat the delays)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let log = dir.path().join("iamlite.log");
    let model: Shared = Arc::new(Mutex::new(Model::default()));
    let mut delays = Vec::new();

    // Whole-state comparisons cost time proportional to the state: ten per run, at most.
    let full_every = (cycles / 10).max(10);
    let progress_every = if cycles > 100 { 50 } else { 10 };
    // Time spent starting the server, checking through it, running the workload, checking the file.
    let mut phases = [Duration::ZERO; 4];
    for cycle in 0..cycles {
        let mut mark = Instant::now();
        let mut lap = |phase: usize, mark: &mut Instant| {
            phases[phase] += mark.elapsed();
            *mark = Instant::now();
        };
        let mut server = Binary::spawn(&db, &log, "iamlite=info");
        lap(0, &mut mark);
        if cycle > 0 {
            check_server(&server, &model, false, cycle % full_every == 0).await;
        }
        lap(1, &mut mark);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(worker(
                    w,
                    cycle,
                    server.endpoint(),
                    model.clone(),
                    stop.clone(),
                    rng.random(),
                ))
            })
            .collect();
        let delay = Duration::from_millis(rng.random_range(50..=500));
        delays.push(delay);
        tokio::time::sleep(delay).await;
        assert!(
            server.try_exit_status().is_none(),
            "cycle {cycle}: the server exited on its own; log:\n{}",
            server.log()
        );
        server.sigkill();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .expect("workers stop once the server is gone")
                .unwrap();
        }
        let log_text = server.log();
        assert!(
            !log_text.contains("panicked"),
            "cycle {cycle}: the server panicked:\n{log_text}"
        );
        let unexpected = std::mem::take(&mut lock(&model).unexpected);
        assert!(
            unexpected.is_empty(),
            "cycle {cycle}: error answers from a live server:\n{}",
            unexpected.join("\n")
        );
        drop(server);
        lap(2, &mut mark);
        let full = (cycle + 1) % full_every == 0 || cycle + 1 == cycles;
        check_file(&db, &model, cycle, full).await;
        lap(3, &mut mark);
        if cycle + 1 < cycles && (cycle + 1) % progress_every == 0 {
            println!(
                "  {} cycles, {} acknowledged writes checked, {:.1?} (start {:.1?}, API checks {:.1?}, \
                 workload {:.1?}, file checks {:.1?})",
                cycle + 1,
                lock(&model).checked,
                started.elapsed(),
                phases[0],
                phases[1],
                phases[2],
                phases[3]
            );
        }
    }

    // One last restart: everything, through the API, then a clean stop.
    let mut server = Binary::spawn(&db, &log, "iamlite=info");
    check_server(&server, &model, true, true).await;
    server.sigterm();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");

    let m = lock(&model);
    let mean_delay = delays.iter().sum::<Duration>() / delays.len().max(1) as u32;
    println!(
        "kill cycles survived: {cycles}, acknowledged writes checked: {} ({} users, {} keys at the end; \
         mean kill delay {mean_delay:?}) in {:.1?}",
        m.checked,
        m.users.len(),
        m.keys.len(),
        started.elapsed()
    );
    assert!(m.checked > 0, "no write was acknowledged at all");
}

/// A database holding user alice (and no key), and a model that also believes in a key of hers.
async fn model_with_a_lost_key() -> (tempfile::TempDir, std::path::PathBuf, Model) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let server = Binary::spawn(&db, &dir.path().join("iamlite.log"), "iamlite=info");
    iam_at(&server.endpoint(), ROOT_KEY_ID, ROOT_SECRET)
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    drop(server);
    let mut model = Model::default();
    model.users.insert("alice".into(), false);
    model.new_users.push("alice".into());
    model.keys.insert(
        "AKIANEVERCREATED0000".into(),
        Key {
            user: "alice".into(),
            secret: "x".into(),
            status: Status::Active,
            pending: None,
            sdk_checked: false,
        },
    );
    model.touched_keys.insert("AKIANEVERCREATED0000".into());
    (dir, db, model)
}

/// The checks themselves must notice a lost write: a key the model believes in but the file lacks.
#[tokio::test]
#[should_panic(expected = "is missing after the kill")]
async fn the_full_file_check_notices_a_missing_acknowledged_key() {
    let (_dir, db, model) = model_with_a_lost_key().await;
    check_file(&db, &Arc::new(Mutex::new(model)), 0, true).await;
}

#[tokio::test]
#[should_panic(expected = "is missing after the kill")]
async fn the_incremental_file_check_notices_a_missing_acknowledged_key() {
    let (_dir, db, model) = model_with_a_lost_key().await;
    check_file(&db, &Arc::new(Mutex::new(model)), 0, false).await;
}

/// Sends one OUTSCALE API call signed with the root key; the status and JSON body.
async fn osc_call(
    server: &Binary,
    action: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = osc_signer::json_post(
        &server.addr.to_string(),
        &format!("/api/v1/{action}"),
        &body.to_string(),
    );
    osc_signer::OscSigner::new(ROOT_KEY_ID, ROOT_SECRET).sign(&mut req);
    let r = signer::send(server.addr, &req).await;
    (r.status, serde_json::from_str(&r.body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_expiration_changes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let log = dir.path().join("iamlite.log");
    let args = ["--flavor", "outscale"];
    let mut server = Binary::spawn_with(&db, &log, "iamlite=info", &args);
    let (status, created) = osc_call(&server, "CreateAccessKey", serde_json::json!({})).await;
    assert_eq!(status, 200, "{created}");
    let id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    for year in 2060..2066 {
        let date = format!("{year}-04-05");
        let (status, body) = osc_call(
            &server,
            "UpdateAccessKey",
            serde_json::json!({"AccessKeyId": id, "ExpirationDate": date}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // Killed as soon as the change is acknowledged.
        server.sigkill();
        server = Binary::spawn_with(&db, &log, "iamlite=info", &args);
        let (status, read) = osc_call(
            &server,
            "ReadAccessKeys",
            serde_json::json!({"Filters": {"AccessKeyIds": [id]}}),
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            read["AccessKeys"][0]["ExpirationDate"],
            format!("{date}T00:00:00.000+0000"),
            "the acknowledged expiration of {date} was lost"
        );
    }
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert!(status.success());
}
