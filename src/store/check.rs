//! `iamlite check`: a database file examined without writing to it (schema version, integrity,
//! counts, free space), for operators and CI.

use super::fault::{Fault, space};
use super::schema::{SCHEMA_VERSION, foreign_database, foreign_objects, integrity, newer_schema};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What `iamlite check` found: lines to print, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// `(what, finding)` pairs, in the order they were examined.
    pub findings: Vec<(&'static str, String)>,
    /// `None` when the file is a sound iamlite database this build can serve; otherwise why not.
    pub problem: Option<String>,
}

impl CheckReport {
    fn note(&mut self, what: &'static str, finding: impl Into<String>) {
        self.findings.push((what, finding.into()));
    }
}

/// Examines the database at `path`, opened read-only: nothing in the file is changed.
pub fn check(path: &Path) -> CheckReport {
    let target = path.display().to_string();
    let mut report = CheckReport {
        findings: Vec::new(),
        problem: None,
    };
    match std::fs::metadata(path) {
        Ok(m) => report.note("database", format!("{target} ({} bytes)", m.len())),
        Err(e) => {
            report.problem = Some(format!("no database at {target} ({e})"));
            return report;
        }
    }
    if let Some(s) = space(&target) {
        let mode = if s.read_only {
            "read-only"
        } else {
            "read-write"
        };
        report.note(
            "free space",
            format!("{} bytes ({mode} file system)", s.free_bytes),
        );
    }
    report.problem = examine(path, &target, &mut report).err();
    report
}

fn examine(path: &Path, target: &str, report: &mut CheckReport) -> Result<(), String> {
    let describe = |e: rusqlite::Error| match Fault::of(&e) {
        Some(f) => f.refine(target).describe(target, &e.to_string()),
        None => format!("cannot read {target}: {e}"),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(describe)?;
    let version: i64 = match conn.pragma_query_value(None, "user_version", |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => {
            if Fault::of(&e) == Some(Fault::Damaged) {
                report.note("integrity", e.to_string());
            }
            return Err(describe(e));
        }
    };
    report.note(
        "schema version",
        format!("{version} (this iamlite writes {SCHEMA_VERSION})"),
    );
    if version > SCHEMA_VERSION {
        return Err(newer_schema(target, version));
    }
    if version < 1 {
        return Err(match foreign_objects(&conn).map_err(describe)? {
            0 => Fault::NotADatabase.describe(target, "an empty database"),
            n => foreign_database(target, n),
        });
    }
    // A file too broken to check at all fails with SQLITE_CORRUPT instead of listing problems.
    let problems = integrity(&conn, "integrity_check").unwrap_or_else(|e| vec![e.to_string()]);
    if !problems.is_empty() {
        let detail = problems.join("; ");
        report.note("integrity", detail.clone());
        return Err(Fault::Damaged.describe(target, &detail));
    }
    report.note("integrity", "ok");
    let count = |table: &str| -> String {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map_or_else(|_| "-".to_string(), |n| n.to_string())
    };
    report.note(
        "counts",
        format!(
            "{} accounts, {} users, {} access keys, {} sessions, {} MFA devices",
            count("accounts"),
            count("users"),
            count("access_keys"),
            count("sessions"),
            count("mfa_devices")
        ),
    );
    Ok(())
}
