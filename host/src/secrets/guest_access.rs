//! The `flyte:agent/secrets` import: a guest asks for a secret by name.
//!
//! Every read goes the same way: [`decide`] on the plugin's grant, then the
//! host's [`SecretStore`](super::SecretStore). Every read, whatever the
//! outcome, becomes one `secret_access` audit event; refusals and misses are
//! also logged at warn. Values never appear in logs, errors or audit events:
//! only names, decisions and reasons do.
//!
//! The host's work on a guest's behalf is budgeted: at most
//! [`MAX_READS_PER_CALL`] reads per call (a fresh instance per call, so the
//! count starts at zero each time) and values up to [`MAX_VALUE_BYTES`]. The
//! read after the cap gets `too-many-reads`; a guest that keeps asking after
//! that is stopped with a trap, which bounds the audit lines one call can
//! produce.

use super::{SecretDecision, SecretValue, decide};
use crate::audit::AuditEvent;
use crate::runtime::bindings::secrets::{self, SecretError};
use crate::runtime::capabilities::Capabilities;
use crate::runtime::instance_state::InstanceState;

/// Secret reads one call may make; the next gets `too-many-reads`.
pub const MAX_READS_PER_CALL: u32 = 64;
/// Largest value handed to a guest, in bytes; a larger one is `too-large`.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Longest name shown in the log and audit trail (valid names are shorter;
/// a guest may send anything).
const NAME_SHOWN_MAX: usize = 256;

impl secrets::Host for InstanceState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, SecretError>> {
        self.secret_reads = self.secret_reads.saturating_add(1);
        let reads = self.secret_reads;
        let outcome = read(&self.capabilities, self.task(), reads, &name);
        match outcome {
            Outcome::Value(value) => Ok(Ok(value.expose().to_string())),
            Outcome::Refused(error) => Ok(Err(error)),
            Outcome::Stop => Err(wasmtime::format_err!(
                "the plugin kept reading secrets after being told it read too many \
                 ({MAX_READS_PER_CALL} per call)"
            )),
        }
    }
}

/// What one read comes to.
#[derive(Debug)]
enum Outcome {
    Value(SecretValue),
    Refused(SecretError),
    /// Past the cap and already told so: trap.
    Stop,
}

/// One read by the plugin with `capabilities`, the `reads`-th of this call:
/// decides, looks up, audits and logs.
fn read(capabilities: &Capabilities, task: &str, reads: u32, name: &str) -> Outcome {
    let plugin = capabilities.plugin.as_str();
    let shown = shown_name(name);
    let audit = |allowed: bool, reason: &str| {
        capabilities.audit.record(AuditEvent::SecretAccess {
            plugin: plugin.to_string(),
            task: task.to_string(),
            name: shown.clone(),
            allowed,
            reason: reason.to_string(),
        });
    };
    let refuse = |allowed: bool, reason: &str, error: SecretError| {
        audit(allowed, reason);
        capabilities
            .metrics
            .denied(crate::metrics::Capability::Secret, denial_class(&error));
        tracing::warn!(
            target: "secrets",
            plugin,
            task,
            name = ?shown,
            "secret not returned: {reason}"
        );
        Outcome::Refused(error)
    };

    if reads > MAX_READS_PER_CALL {
        let reason = format!("over the limit of {MAX_READS_PER_CALL} secret reads per call");
        if reads == MAX_READS_PER_CALL + 1 {
            return refuse(false, &reason, SecretError::TooManyReads);
        }
        audit(false, &format!("{reason}; the call is stopped"));
        return Outcome::Stop;
    }
    if let SecretDecision::Denied(reason) = decide(&capabilities.secrets, name) {
        return refuse(false, &reason, SecretError::NotGranted);
    }
    let Some(value) = capabilities.secret_store.read(name) else {
        return refuse(
            true,
            "granted, but no value in the host's secret sources (secrets.env_prefix, secrets.dir)",
            SecretError::NotFound,
        );
    };
    if value.expose().len() > MAX_VALUE_BYTES {
        return refuse(
            true,
            &format!(
                "granted, but the value is larger than {} KiB",
                MAX_VALUE_BYTES / 1024
            ),
            SecretError::TooLarge,
        );
    }
    audit(true, "granted by secrets.names");
    tracing::debug!(target: "secrets", plugin, task, name = ?shown, "secret read");
    Outcome::Value(value)
}

/// The reason class of a refused read in `hangar_capability_denials_total`.
fn denial_class(error: &SecretError) -> &'static str {
    match error {
        SecretError::NotGranted => "not_granted",
        SecretError::NotFound => "not_found",
        SecretError::TooLarge => "too_large",
        SecretError::TooManyReads => "too_many_reads",
    }
}

/// `name` as written to the log and audit trail: cut to a bounded length.
fn shown_name(name: &str) -> String {
    if name.len() <= NAME_SHOWN_MAX {
        return name.to_string();
    }
    let mut end = NAME_SHOWN_MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::AuditLog;
    use crate::config::SecretSources;
    use crate::manifest;
    use crate::runtime::capabilities::HostServices;
    use crate::secrets::SecretStore;

    struct Fixture {
        capabilities: Capabilities,
        audit: AuditLog,
        _dir: tempfile::TempDir,
    }

    /// A plugin whose manifest is `manifest`, over a secret directory
    /// holding `files`.
    fn fixture(manifest: &str, files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, value) in files {
            std::fs::write(dir.path().join(name), value).unwrap();
        }
        let audit = AuditLog::memory();
        let services = HostServices {
            audit: audit.clone(),
            secret_store: Arc::new(SecretStore::new(&SecretSources {
                env_prefix: "_HANGAR_UNIT_TEST_NO_SUCH_PREFIX_".into(),
                dir: Some(dir.path().to_path_buf()),
            })),
        };
        let manifest = manifest::parse(manifest).unwrap();
        let capabilities = Capabilities::from_manifest("reader", &manifest, &services).unwrap();
        Fixture {
            capabilities,
            audit,
            _dir: dir,
        }
    }

    fn events(audit: &AuditLog) -> Vec<serde_json::Value> {
        audit
            .lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn reads_are_decided_looked_up_and_audited() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let f = fixture(
            "[secrets]\nnames = [\"token\", \"missing\", \"big\"]\n",
            &[("token", "s3cr3t\n"), ("other", "not-yours"), ("big", &big)],
        );
        // (name, expected, audited allowed)
        let cases: [(&str, Result<&str, SecretError>, bool); 6] = [
            ("token", Ok("s3cr3t"), true),
            ("other", Err(SecretError::NotGranted), false),
            ("missing", Err(SecretError::NotFound), true),
            ("big", Err(SecretError::TooLarge), true),
            ("../token", Err(SecretError::NotGranted), false),
            ("", Err(SecretError::NotGranted), false),
        ];
        for (i, (name, expected, _)) in cases.iter().enumerate() {
            let got = match read(&f.capabilities, "task-1", i as u32 + 1, name) {
                Outcome::Value(v) => Ok(v.expose().to_string()),
                Outcome::Refused(e) => Err(e),
                Outcome::Stop => panic!("{name:?}: stopped"),
            };
            assert_eq!(got, expected.map(str::to_string), "{name:?}");
        }
        let events = events(&f.audit);
        assert_eq!(events.len(), cases.len());
        for (event, (name, _, allowed)) in events.iter().zip(cases) {
            assert_eq!(event["event"], "secret_access");
            assert_eq!(event["plugin"], "reader");
            assert_eq!(event["task"], "task-1");
            assert_eq!(event["name"], name);
            assert_eq!(event["allowed"], allowed, "{name:?}");
            assert!(!event["reason"].as_str().unwrap().is_empty());
        }
        let text = f.audit.lines().join("\n");
        assert!(
            !text.contains("s3cr3t") && !text.contains("not-yours"),
            "{text}"
        );
    }

    #[test]
    fn without_a_manifest_nothing_is_readable() {
        let f = fixture("", &[("token", "s3cr3t")]);
        assert!(matches!(
            read(&f.capabilities, "t", 1, "token"),
            Outcome::Refused(SecretError::NotGranted)
        ));
        assert_eq!(events(&f.audit)[0]["allowed"], false);
    }

    #[test]
    fn reads_per_call_are_capped_then_the_call_is_stopped() {
        let f = fixture("[secrets]\nnames = [\"token\"]\n", &[("token", "v")]);
        for reads in 1..=MAX_READS_PER_CALL {
            assert!(matches!(
                read(&f.capabilities, "t", reads, "token"),
                Outcome::Value(_)
            ));
        }
        assert!(matches!(
            read(&f.capabilities, "t", MAX_READS_PER_CALL + 1, "token"),
            Outcome::Refused(SecretError::TooManyReads)
        ));
        assert!(matches!(
            read(&f.capabilities, "t", MAX_READS_PER_CALL + 2, "token"),
            Outcome::Stop
        ));
        let events = events(&f.audit);
        assert_eq!(events.len() as u32, MAX_READS_PER_CALL + 2);
        assert_eq!(events[MAX_READS_PER_CALL as usize]["allowed"], false);
    }

    #[test]
    fn long_names_are_cut_in_the_audit_trail() {
        let f = fixture("", &[]);
        let name = "é".repeat(1000);
        read(&f.capabilities, "t", 1, &name);
        let shown = events(&f.audit)[0]["name"].as_str().unwrap().to_string();
        assert!(
            shown.len() <= NAME_SHOWN_MAX + '…'.len_utf8(),
            "{}",
            shown.len()
        );
        assert!(shown.ends_with('…'));
    }
}
