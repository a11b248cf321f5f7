//! The audit trail: one JSON object per line for every plugin load and
//! unload, outbound HTTP request and secret access, for security teams.
//!
//! Events carry names, decisions and sizes, never secret values or request
//! bodies. Writing is best effort and never fails a call: a broken audit
//! destination is reported once in the host log.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Something a security team wants to know happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    PluginLoaded {
        plugin: String,
        file: String,
        sha256: String,
        categories: Vec<String>,
    },
    PluginUnloaded {
        plugin: String,
        file: String,
    },
    HttpRequest {
        plugin: String,
        task: String,
        method: String,
        /// scheme://host:port/path, without the query string.
        url: String,
        allowed: bool,
        /// The manifest rule that allowed it, or why it was denied.
        decided_by: String,
        status: Option<u16>,
        request_bytes: u64,
        response_bytes: u64,
        duration_ms: u64,
        /// Names of secrets the host injected into the request.
        injected_secrets: Vec<String>,
        /// Why an allowed request failed (connect error, timeout, a limit),
        /// when it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    SecretAccess {
        plugin: String,
        task: String,
        name: String,
        allowed: bool,
        reason: String,
    },
}

/// Where events go. Cloning shares the destination.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<Sink>,
}

enum Destination {
    Off,
    Stdout,
    Stderr,
    File(Mutex<std::fs::File>),
    /// Kept in memory (tests).
    #[cfg(test)]
    Memory(Mutex<Vec<String>>),
}

struct Sink {
    destination: Destination,
    failed: AtomicBool,
}

impl AuditLog {
    /// Opens the destination named in the host config: "stdout", "stderr",
    /// "off", or a file path.
    pub fn open(destination: &str) -> anyhow::Result<AuditLog> {
        let destination = match destination {
            "off" => Destination::Off,
            "stdout" | "-" => Destination::Stdout,
            "stderr" => Destination::Stderr,
            path => {
                let path = PathBuf::from(path);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| {
                        anyhow::anyhow!("cannot open the audit log {}: {e}", path.display())
                    })?;
                Destination::File(Mutex::new(file))
            }
        };
        Ok(AuditLog {
            sink: Arc::new(Sink {
                destination,
                failed: AtomicBool::new(false),
            }),
        })
    }

    /// An audit log that drops everything.
    pub fn off() -> AuditLog {
        AuditLog {
            sink: Arc::new(Sink {
                destination: Destination::Off,
                failed: AtomicBool::new(false),
            }),
        }
    }

    #[cfg(test)]
    pub fn memory() -> AuditLog {
        AuditLog {
            sink: Arc::new(Sink {
                destination: Destination::Memory(Mutex::new(Vec::new())),
                failed: AtomicBool::new(false),
            }),
        }
    }

    #[cfg(test)]
    pub fn lines(&self) -> Vec<String> {
        match &self.sink.destination {
            Destination::Memory(lines) => lines.lock().map(|l| l.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn record(&self, event: AuditEvent) {
        if matches!(self.sink.destination, Destination::Off) {
            return;
        }
        #[derive(Serialize)]
        struct Line<'a> {
            ts: String,
            #[serde(flatten)]
            event: &'a AuditEvent,
        }
        let line = Line {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            event: &event,
        };
        let Ok(text) = serde_json::to_string(&line) else {
            return;
        };
        let result = match &self.sink.destination {
            Destination::Off => Ok(()),
            Destination::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}").and_then(|()| out.flush())
            }
            Destination::Stderr => writeln!(std::io::stderr().lock(), "{text}"),
            Destination::File(file) => match file.lock() {
                Ok(mut file) => writeln!(file, "{text}"),
                Err(_) => Ok(()),
            },
            #[cfg(test)]
            Destination::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(text);
                }
                Ok(())
            }
        };
        if let Err(e) = result
            && !self.sink.failed.swap(true, Ordering::Relaxed)
        {
            tracing::error!("cannot write the audit log (further errors are not reported): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_json_object_per_line() {
        let log = AuditLog::memory();
        log.record(AuditEvent::SecretAccess {
            plugin: "chat".into(),
            task: "abc-0".into(),
            name: "openai_key".into(),
            allowed: false,
            reason: "not granted in chat.toml".into(),
        });
        let lines = log.lines();
        assert_eq!(lines.len(), 1);
        let value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(value["event"], "secret_access");
        assert_eq!(value["name"], "openai_key");
        assert_eq!(value["allowed"], false);
        assert!(value["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn file_destination_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(path.to_str().unwrap()).unwrap();
        for plugin in ["a", "b"] {
            log.record(AuditEvent::PluginUnloaded {
                plugin: plugin.into(),
                file: format!("{plugin}.wasm"),
            });
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
