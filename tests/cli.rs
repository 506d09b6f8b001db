//! The binary's command-line surface: `--help`, start-up errors, and `export`/`import` on a stopped database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_iamlite");

#[test]
fn help_lists_every_flag_and_its_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--listen", "IAMLITE_LISTEN"),
        ("--db", "IAMLITE_DB"),
        ("--in-memory", "IAMLITE_IN_MEMORY"),
        ("--account-id", "IAMLITE_ACCOUNT_ID"),
        ("--root-access-key-id", "IAMLITE_ROOT_ACCESS_KEY_ID"),
        ("--root-secret-access-key", "IAMLITE_ROOT_SECRET_ACCESS_KEY"),
        ("--seed-file", "IAMLITE_SEED_FILE"),
        ("--id-seed", "IAMLITE_ID_SEED"),
        ("--propagation-delay", "IAMLITE_PROPAGATION_DELAY"),
        ("--admin-token", "IAMLITE_ADMIN_TOKEN"),
        ("--allowed-host", "IAMLITE_ALLOWED_HOSTS"),
        ("--max-body-bytes", "IAMLITE_MAX_BODY_BYTES"),
        ("--header-timeout", "IAMLITE_HEADER_TIMEOUT"),
        ("--body-timeout", "IAMLITE_BODY_TIMEOUT"),
        ("--shutdown-grace", "IAMLITE_SHUTDOWN_GRACE"),
        ("--flavor", "IAMLITE_FLAVOR"),
        ("--root-login", "IAMLITE_ROOT_LOGIN"),
        ("--root-password", "IAMLITE_ROOT_PASSWORD"),
        ("--store", "IAMLITE_STORE"),
        ("--credential-cache", "IAMLITE_CREDENTIAL_CACHE"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(help.contains(env), "{env} missing from --help");
    }
    assert!(help.contains("export") && help.contains("import"));
    assert!(help.contains("RUST_LOG"), "RUST_LOG missing from --help");
}

#[test]
fn in_memory_from_the_environment_accepts_the_usual_spellings() {
    use std::io::BufRead;
    for value in ["1", "true", "yes", "on"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("never.db");
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .env("IAMLITE_IN_MEMORY", value)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let _listening = lines.next().unwrap().unwrap();
        let state = lines.next().unwrap().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            state.contains("in memory"),
            "IAMLITE_IN_MEMORY={value}: {state}"
        );
        assert!(
            !db.exists(),
            "IAMLITE_IN_MEMORY={value} still wrote {}",
            db.display()
        );
    }
}

#[test]
fn a_bad_or_unreachable_store_fails_start_up_without_showing_its_password() {
    for (args, expected) in [
        (
            vec!["--store", "mysql://root:hunter2@db/iam"],
            "'mysql://root:***@db/iam' is not a store: use sqlite:PATH, memory, or postgres://",
        ),
        (
            // Port 1 on loopback: nothing listens there, so the connection is refused at once.
            vec!["--store", "postgres://iam:hunter2@127.0.0.1:1/iamlite"],
            "cannot connect to postgres://iam:***@127.0.0.1:1/iamlite",
        ),
        (
            vec!["--credential-cache", "notify"],
            "--credential-cache notify needs a PostgreSQL store",
        ),
        (
            vec!["--store", "memory", "--in-memory"],
            "cannot be used with",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .env_remove("IAMLITE_STORE")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("hunter2"),
            "{args:?} shows the password: {err}"
        );
    }
}

#[test]
fn a_bad_seed_file_fails_start_up_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, "[[accounts]]\nid = \"12\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--in-memory", "--listen", "127.0.0.1:0", "--seed-file"])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "{}:2: account id '12' must be exactly 12 digits",
            seed.display()
        )),
        "{err}"
    );
}

#[test]
fn export_then_import_moves_the_whole_state_between_databases() {
    let dir = tempfile::tempdir().unwrap();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/seed.toml");
    let source = dir.path().join("source.db");
    // Start once to load the seed into the file, then stop.
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--seed-file", seed, "--db"])
        .arg(&source)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("iamlite "), "{line}");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success(), "SIGTERM exits 0");

    let exported = Command::new(BIN)
        .arg("export")
        .arg("--db")
        .arg(&source)
        .output()
        .unwrap();
    assert!(exported.status.success());
    let json = String::from_utf8(exported.stdout).unwrap();
    assert!(json.contains("AKIAQYLPMN5HDEPLOYRA") && json.contains("ci-deployer"));

    let target = dir.path().join("target.db");
    let state_file = dir.path().join("state.json");
    std::fs::write(&state_file, &json).unwrap();
    let imported = Command::new(BIN)
        .arg("import")
        .arg("--db")
        .arg(&target)
        .arg("--file")
        .arg(&state_file)
        .status()
        .unwrap();
    assert!(imported.success());
    let again = Command::new(BIN)
        .arg("export")
        .arg("--db")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), json);

    let missing = Command::new(BIN)
        .args(["export", "--db"])
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("no database at")
    );
}

#[test]
fn sigterm_right_after_the_banner_is_already_a_graceful_stop() {
    // Scripts wait for the banner and may stop the server at once; the handlers must be in place.
    for round in 0..20 {
        let mut child = Command::new(BIN)
            .args(["--in-memory", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert!(line.starts_with("iamlite "), "{line}");
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        assert!(status.success(), "round {round}: {status}");
    }
}

#[test]
fn the_outscale_banner_gives_a_ready_profile_and_variables() {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args([
            "--in-memory",
            "--listen",
            "127.0.0.1:0",
            "--flavor",
            "outscale",
        ])
        .args([
            "--root-login",
            "me@example.com",
            "--root-password",
            "S3cret!pass",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .take_while(|l| !l.contains("osc-cli api ReadAccessKeys"))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    let endpoint = lines[0].split("listening on ").nth(1).unwrap().to_string();
    let text = lines.join("\n");
    assert!(text.contains("flavor:      outscale"), "{text}");
    let profile_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with('{'))
        .expect("a config.json profile");
    let profile: serde_json::Value = serde_json::from_str(profile_line.trim()).unwrap();
    assert_eq!(profile["default"]["access_key"], "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(profile["default"]["endpoint"], endpoint.as_str());
    assert_eq!(profile["default"]["https"], false);
    assert!(
        text.contains(&format!("OSC_ENDPOINT_API={endpoint}/api/v1")),
        "{text}"
    );
    assert!(text.contains("OSC_LOGIN=me@example.com"), "{text}");
    assert!(
        text.contains(&format!(
            "console:     {endpoint}/console (sign in with the root key or the root login and password)"
        )),
        "{text}"
    );
    assert!(!text.contains("S3cret!pass"), "the password is not printed");
}

#[test]
fn health_answers_for_a_running_server_and_fails_for_none() {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["--in-memory", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let port = first.rsplit(':').next().unwrap().to_string();
    // The container's health check: the listen address as configured, 0.0.0.0 included.
    let ok = Command::new(BIN)
        .args(["health", "--listen", &format!("0.0.0.0:{port}")])
        .status()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ok.success());
    let out = Command::new(BIN)
        .args(["health", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_console_says_so_in_the_banner() {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["--in-memory", "--listen", "127.0.0.1:0", "--no-console"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .take(3)
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lines[2], "  console:     off (--no-console)", "{lines:?}");
}
