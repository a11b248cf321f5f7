//! The pure part of `hangar inspect` and `hangar check`: what a component's
//! imports mean, and where they disagree with what its manifest grants.
//!
//! | the component imports          | the manifest grants | finding                              |
//! |--------------------------------|---------------------|--------------------------------------|
//! | `wasi:http/outgoing-handler`   | no `http.allow`     | imported but not granted: HTTP denied |
//! | `flyte:agent/secrets`          | no `secrets.names`  | imported but not granted: reads refused |
//! | no `wasi:http/outgoing-handler`| `http.allow`        | over-grant: it can never call out     |
//! | no `flyte:agent/secrets`       | `secrets.names`     | over-grant: it can never read one     |
//! | no `wasi:http/outgoing-handler`| `secrets.inject`    | over-grant: nothing to inject into    |
//! | no `flyte:agent/config`        | `[config]`          | config it can never read              |
//!
//! Imported-but-not-granted and over-grants are warnings: the plugin still
//! loads and is no more powerful than its grants, but either a call will
//! fail at run time or the manifest grants more than the plugin can use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How serious a finding is. `hangar check` fails on errors, and on
/// warnings too with `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Something a security team or an operator should know about a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable machine-readable code (see docs/inspect.md).
    pub code: &'static str,
    /// The file to look at (the manifest, or the component).
    pub file: PathBuf,
    /// 1-based line in `file`, when the finding is about one place.
    pub line: Option<usize>,
    pub message: String,
    /// What to do about it, when the message does not already say.
    pub fix: Option<String>,
}

/// Which grants a manifest makes, each with the line of every entry (empty:
/// not granted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantLines {
    /// Whether the manifest file exists (for messages only).
    pub present: bool,
    pub http_allow: Vec<usize>,
    pub secret_names: Vec<usize>,
    pub secret_inject: Vec<usize>,
    /// The `[config]` keys.
    pub config: Vec<usize>,
}

pub const HTTP_IMPORT: &str = "wasi:http/outgoing-handler";
/// The same grants, as plain values (for guests without wasi:http resources).
pub const PLAIN_HTTP_IMPORT: &str = "flyte:agent/outbound-http";
pub const SECRETS_IMPORT: &str = "flyte:agent/secrets";
pub const CONFIG_IMPORT: &str = "flyte:agent/config";

/// An interface name without its version: `wasi:http/types@0.2.6` →
/// `wasi:http/types`.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

/// What the host gives a component through an import, in a few words.
pub fn describe_import(name: &str) -> &'static str {
    let base = unversioned(name);
    match base {
        "flyte:agent/logging" => "log lines, to the host log",
        SECRETS_IMPORT => "secrets, only names granted in [secrets] names",
        CONFIG_IMPORT => "settings from the manifest's [config] table",
        "flyte:agent/types" => "shared types",
        HTTP_IMPORT => "outbound HTTP, to destinations granted in [http] allow",
        PLAIN_HTTP_IMPORT => {
            "outbound HTTP as plain values, to destinations granted in [http] allow"
        }
        "wasi:http/types" => "HTTP types",
        "wasi:cli/environment" => "environment and arguments: always empty",
        "wasi:cli/exit" => "exit: ends the call with an error",
        "wasi:cli/stdin" => "stdin: always empty",
        "wasi:cli/stdout" => "stdout: discarded",
        "wasi:cli/stderr" => "stderr: kept for the call's error message",
        "wasi:io/error" | "wasi:io/streams" | "wasi:io/poll" => "streams and polling",
        _ if base.starts_with("wasi:cli/terminal") => "terminal: never a terminal",
        _ if base.starts_with("wasi:clocks/") => "clocks",
        _ if base.starts_with("wasi:random/") => "random numbers",
        _ if base.starts_with("wasi:filesystem/") => "files: none granted, calls fail",
        _ if base.starts_with("wasi:sockets/") => "sockets: disabled, calls fail",
        crate::runtime::quickjs_preinit::INTERFACE => {
            "QuickJS module loading, used only at build time: calls trap"
        }
        _ => "",
    }
}

/// What a component offers through an export, in a few words.
pub fn describe_export(name: &str) -> &'static str {
    match unversioned(name) {
        "flyte:agent/identity" => "who it is (describe)",
        "flyte:agent/async-handler" => "async agent: create, get, delete",
        "flyte:agent/sync-handler" => "sync agent: do",
        "flyte:agent/observability" => "metrics and logs of a job",
        // Added by the load-time rewrite of a plugin with [reuse].
        base if base.starts_with(crate::runtime::reuse::COMMIT_PREFIX) => {
            "added for [reuse]: marks the state to reset to, once per instance"
        }
        base if base.starts_with(crate::runtime::reuse::RESET_PREFIX) => {
            "added for [reuse]: returns to that state after each call"
        }
        // componentize-qjs's pre-initialisation entry; the host never calls it.
        "init" => "not called by Hangar (componentize-qjs runs it at build time)",
        _ => "",
    }
}

/// Where imports and grants disagree. `manifest` is the grant file (it
/// need not exist) and `component` the `.wasm`; findings point at the
/// grant's line, or at the file where the fix goes.
pub fn analyze(
    imports: &[String],
    grants: &GrantLines,
    manifest: &Path,
    component: &Path,
) -> Vec<Finding> {
    let imports_any = |prefix: &str| imports.iter().any(|i| unversioned(i) == prefix);
    let name = component
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest_name = manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut findings = Vec::new();
    let mut warn = |code, line: Option<usize>, message: String, fix: String| {
        findings.push(Finding {
            severity: Severity::Warning,
            code,
            file: if line.is_some() {
                manifest.to_path_buf()
            } else {
                component.to_path_buf()
            },
            line,
            message,
            fix: Some(fix),
        })
    };
    // Who grants nothing: the manifest, or its absence.
    let granter = if grants.present {
        manifest_name.clone()
    } else {
        format!("it has no manifest ({manifest_name}), which")
    };
    // Either HTTP import reaches the same grants.
    let http_import = [HTTP_IMPORT, PLAIN_HTTP_IMPORT]
        .into_iter()
        .find(|import| imports_any(import));
    let http = http_import.is_some();
    let both_http = format!("{HTTP_IMPORT} or {PLAIN_HTTP_IMPORT}");
    let secrets = imports_any(SECRETS_IMPORT);
    if let Some(http_import) = http_import
        && grants.http_allow.is_empty()
    {
        warn(
            "http-not-granted",
            None,
            format!(
                "imported but not granted: {name} imports {http_import} but {granter} allows \
                 no destination, so its HTTP calls will be denied at run time"
            ),
            format!(
                "add [[http.allow]] rules for the hosts it needs to {manifest_name}, or ignore \
                 this if it never calls out"
            ),
        );
    }
    if secrets && grants.secret_names.is_empty() {
        warn(
            "secrets-not-granted",
            None,
            format!(
                "imported but not granted: {name} imports {SECRETS_IMPORT} but {granter} grants \
                 no secret names, so every secret read will be refused"
            ),
            format!(
                "add secrets.names = [\"...\"] to {manifest_name} for the secrets it reads, or \
                 ignore this if it reads none"
            ),
        );
    }
    if !http && let Some(&line) = grants.http_allow.first() {
        warn(
            "http-over-grant",
            Some(line),
            format!(
                "granted but never importable: http.allow grants {} destination(s) but {name} \
                 does not import {both_http}, so it can make no HTTP request",
                grants.http_allow.len()
            ),
            "remove the [[http.allow]] rules (grant only what the plugin can use)".to_string(),
        );
    }
    if !secrets && let Some(&line) = grants.secret_names.first() {
        warn(
            "secrets-over-grant",
            Some(line),
            format!(
                "granted but never importable: secrets.names grants {} secret(s) but {name} does \
                 not import {SECRETS_IMPORT}, so it can read none",
                grants.secret_names.len()
            ),
            "remove secrets.names (grant only what the plugin can use)".to_string(),
        );
    }
    if !http && let Some(&line) = grants.secret_inject.first() {
        warn(
            "inject-over-grant",
            Some(line),
            format!(
                "granted but never importable: secrets.inject adds secrets to HTTP requests but \
                 {name} does not import {both_http}, so it sends none"
            ),
            "remove the [[secrets.inject]] entries".to_string(),
        );
    }
    if !imports_any(CONFIG_IMPORT)
        && let Some(&line) = grants.config.first()
    {
        warn(
            "config-unread",
            Some(line),
            format!(
                "set but never readable: [config] sets {} key(s) but {name} does not import \
                 {CONFIG_IMPORT}, so it reads none of them",
                grants.config.len()
            ),
            "remove the [config] table, or read the keys in the agent (config.get)".to_string(),
        );
    }
    findings
}

/// Task categories claimed by more than one plugin: for each claim after
/// the first, an error on that plugin naming the other.
pub fn duplicate_categories(claims: &[(PathBuf, Vec<(String, i32)>)]) -> Vec<Finding> {
    let mut first: BTreeMap<(&str, i32), &Path> = BTreeMap::new();
    let mut findings = Vec::new();
    for (file, categories) in claims {
        for (name, version) in categories {
            match first.get(&(name.as_str(), *version)) {
                Some(other) if *other != file.as_path() => findings.push(Finding {
                    severity: Severity::Error,
                    code: "duplicate-category",
                    file: file.clone(),
                    line: None,
                    message: format!(
                        "task type \"{name}\" version {version} is also served by {}: propeller \
                         could be routed to either",
                        other.display()
                    ),
                    fix: Some(
                        "remove one of the two plugins, or change one's task type".to_string(),
                    ),
                }),
                Some(_) => {}
                None => {
                    first.insert((name.as_str(), *version), file.as_path());
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &str = "wasi:http/outgoing-handler@0.2.6";
    const SECRETS: &str = "flyte:agent/secrets@0.1.0";
    const LOGGING: &str = "flyte:agent/logging@0.1.0";

    fn grants(http: &[usize], names: &[usize], inject: &[usize]) -> GrantLines {
        GrantLines {
            present: true,
            http_allow: http.to_vec(),
            secret_names: names.to_vec(),
            secret_inject: inject.to_vec(),
            config: Vec::new(),
        }
    }

    fn with_config(grants: GrantLines, lines: &[usize]) -> GrantLines {
        GrantLines {
            config: lines.to_vec(),
            ..grants
        }
    }

    #[test]
    fn imports_against_grants() {
        // (imports, grants, expected (code, file, line), in order)
        type Case = (
            &'static [&'static str],
            GrantLines,
            &'static [(&'static str, &'static str, Option<usize>)],
        );
        let cases: Vec<Case> = vec![
            (&[LOGGING], grants(&[], &[], &[]), &[]),
            (&[], grants(&[], &[], &[]), &[]),
            (&[LOGGING, HTTP], grants(&[4], &[], &[]), &[]),
            (&[SECRETS], grants(&[], &[2], &[]), &[]),
            (&[HTTP, SECRETS], grants(&[3, 7], &[1], &[9]), &[]),
            (
                &[HTTP],
                grants(&[], &[], &[]),
                &[("http-not-granted", "a.wasm", None)],
            ),
            // The plain-values HTTP import reaches the same grants.
            (
                &["flyte:agent/outbound-http@0.1.0"],
                grants(&[3], &[], &[5]),
                &[],
            ),
            (
                &["flyte:agent/outbound-http@0.1.0"],
                grants(&[], &[], &[]),
                &[("http-not-granted", "a.wasm", None)],
            ),
            (
                &["wasi:http/outgoing-handler@0.2.0"],
                grants(&[], &[], &[5]),
                &[("http-not-granted", "a.wasm", None)],
            ),
            (
                &[SECRETS],
                grants(&[], &[], &[]),
                &[("secrets-not-granted", "a.wasm", None)],
            ),
            (
                &[LOGGING],
                grants(&[3, 6], &[], &[]),
                &[("http-over-grant", "a.toml", Some(3))],
            ),
            (
                &[LOGGING],
                grants(&[], &[2], &[]),
                &[("secrets-over-grant", "a.toml", Some(2))],
            ),
            (
                &[SECRETS],
                grants(&[], &[2], &[8]),
                &[("inject-over-grant", "a.toml", Some(8))],
            ),
            (
                &["wasi:http/types@0.2.6"],
                grants(&[3], &[4], &[5]),
                &[
                    ("http-over-grant", "a.toml", Some(3)),
                    ("secrets-over-grant", "a.toml", Some(4)),
                    ("inject-over-grant", "a.toml", Some(5)),
                ],
            ),
            (
                &[HTTP, SECRETS],
                grants(&[], &[], &[]),
                &[
                    ("http-not-granted", "a.wasm", None),
                    ("secrets-not-granted", "a.wasm", None),
                ],
            ),
            (
                &["wasi:filesystem/types@0.2.6", "wasi:sockets/tcp@0.2.6"],
                grants(&[], &[], &[]),
                &[],
            ),
            (
                &["flyte:agent/config@0.1.0"],
                with_config(grants(&[], &[], &[]), &[6, 7]),
                &[],
            ),
            (
                &[LOGGING],
                with_config(grants(&[], &[], &[]), &[6, 7]),
                &[("config-unread", "a.toml", Some(6))],
            ),
        ];
        for (imports, grants, expected) in cases {
            let imports: Vec<String> = imports.iter().map(|s| s.to_string()).collect();
            let got: Vec<(&str, String, Option<usize>)> = analyze(
                &imports,
                &grants,
                Path::new("d/a.toml"),
                Path::new("d/a.wasm"),
            )
            .iter()
            .map(|f| {
                (
                    f.code,
                    f.file.file_name().unwrap().to_string_lossy().into_owned(),
                    f.line,
                )
            })
            .collect();
            let expected: Vec<(&str, String, Option<usize>)> = expected
                .iter()
                .map(|(c, f, l)| (*c, f.to_string(), *l))
                .collect();
            assert_eq!(got, expected, "imports {imports:?}, grants {grants:?}");
        }
    }

    #[test]
    fn findings_teach() {
        let f = &analyze(
            &[HTTP.to_string()],
            &GrantLines::default(),
            Path::new("d/a.toml"),
            Path::new("d/a.wasm"),
        )[0];
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.message.contains("will be denied at run time"),
            "{}",
            f.message
        );
        assert!(f.fix.as_deref().unwrap().contains("[[http.allow]]"));
        assert!(
            f.message
                .contains("but it has no manifest (a.toml), which allows no destination"),
            "{}",
            f.message
        );
        let present = GrantLines {
            present: true,
            ..GrantLines::default()
        };
        let f = &analyze(
            &[SECRETS.to_string()],
            &present,
            Path::new("d/a.toml"),
            Path::new("d/a.wasm"),
        )[0];
        assert!(
            f.message.contains("but a.toml grants no secret names"),
            "{}",
            f.message
        );
    }

    #[test]
    fn duplicate_categories_name_both_files() {
        let claims = vec![
            (PathBuf::from("a.wasm"), vec![("echo".to_string(), 0)]),
            (
                PathBuf::from("b.wasm"),
                vec![("echo".to_string(), 1), ("wait".to_string(), 0)],
            ),
            (PathBuf::from("c.wasm"), vec![("echo".to_string(), 0)]),
            (PathBuf::from("d.wasm"), vec![("wait".to_string(), 0)]),
        ];
        let found = duplicate_categories(&claims);
        let got: Vec<(String, String)> = found
            .iter()
            .map(|f| (f.file.display().to_string(), f.message.clone()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "c.wasm");
        assert!(got[0].1.contains("\"echo\" version 0") && got[0].1.contains("a.wasm"));
        assert_eq!(got[1].0, "d.wasm");
        assert!(got[1].1.contains("b.wasm"));
    }

    #[test]
    fn imports_and_exports_are_described() {
        assert!(describe_import(HTTP).contains("[http]"));
        assert!(describe_import("wasi:filesystem/preopens@0.2.0").contains("none granted"));
        assert_eq!(describe_import("acme:thing/x@1.0.0"), "");
        assert!(describe_import("local:init/module-loader").contains("calls trap"));
        assert!(describe_export("init").contains("not called"));
        assert_eq!(unversioned("wasi:cli/exit@0.2.6"), "wasi:cli/exit");
        assert_eq!(unversioned("plain"), "plain");
        assert!(describe_export("flyte:agent/sync-handler@0.1.0").contains("do"));
        assert!(describe_export("hangar-commit-0").contains("[reuse]"));
        assert!(describe_export("hangar-reset-2").contains("[reuse]"));
        assert_eq!(describe_export("acme:thing/x@1.0.0"), "");
    }
}
