//! `hangar check DIR`: validates a plugin directory for operators' CI.
//!
//! Every problem is one line on stdout, `FILE:LINE: SEVERITY: what is wrong:
//! the fix` (LINE is 1 when the problem is about a whole file, e.g. a
//! component that does not load), and a summary goes to stderr. Errors make
//! the exit code 1: a component that does not load, a manifest that does
//! not parse, invalid grants, a sha256 pin that does not match, two plugins
//! claiming one task type or agent name, a manifest with no component
//! beside it, an invalid host config. Warnings (imported but not granted,
//! granted but never importable) are printed but only fail with `--strict`:
//! they never make a plugin more powerful than its grants.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Examined, Finding, Severity, add_duplicate_findings, examine, inspection_loader};
use crate::cli::RuntimeArgs;
use crate::config::HostConfig;
use crate::limits::Limits;
use crate::manifest;

const CHECK_EXAMPLES: &str = "\
Examples:
  hangar check plugins/                        in CI, before deploying a plugin directory
  hangar check plugins/ --config hangar.toml   the host config too
  hangar check plugins/ --strict               warnings fail as well

Output, one line per problem (stdout), then a summary (stderr):
  plugins/chat.toml:7: error: secrets.names: \"open ai\" is not a valid secret name (...)
  plugins/chat.toml:3: warning: granted but never importable: ...: remove the [[http.allow]] rules ...
LINE is 1 when the problem is about the whole file.

Errors (exit code 1): a component that does not load (not a component,
missing exports, describe fails), a manifest that does not parse (unknown
key, wrong type), invalid grants (limits out of range, bad sha256 or secret
name), a sha256 pin that does not match, two plugins claiming one task type
or agent name, a NAME.toml with no NAME.wasm beside it (a typo?), an invalid
host config. Warnings (exit code 0 unless --strict): a component importing a
capability its manifest does not grant (its calls will be denied), a
manifest granting what the component cannot import (an over-grant).";

#[derive(Debug, clap::Args)]
#[command(after_long_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// The plugin directory: NAME.wasm components and NAME.toml manifests.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Fail on warnings too (imported but not granted, over-grants).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// `hangar check`: 0 when clean, 1 when there is a problem.
pub async fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let mut problems = Vec::new();
    let config = match &args.runtime.config {
        Some(path) => check_config(path, &mut problems),
        None => HostConfig::default(),
    };
    let listing = match list(&args.dir) {
        Ok(listing) => listing,
        Err(message) => {
            problems.push(problem(&args.dir, None, Severity::Error, message));
            Listing::default()
        }
    };
    let (loader, _ticker) = inspection_loader(&args.runtime, &config, &listing.components)?;
    let mut examined = Vec::new();
    for file in &listing.components {
        examined.push(examine(&loader, file).await);
    }
    add_duplicate_findings(&mut examined);
    problems.extend(examined.iter().flat_map(|e| e.findings.iter().cloned()));
    problems.extend(duplicate_agent_names(&examined));
    problems.extend(orphans(&listing, args.runtime.config.as_deref()));
    let files = listing.components;
    // Grouped by file, in line order (a stable sort keeps each file's order).
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));

    let mut stdout = std::io::stdout().lock();
    for p in &problems {
        writeln!(stdout, "{}", format_problem(p))?;
    }
    stdout.flush()?;
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems
        .iter()
        .filter(|p| p.severity == Severity::Warning)
        .count();
    let failed = errors > 0 || (args.strict && warnings > 0);
    eprintln!(
        "hangar check {}: {} plugin{}, {errors} error{}, {warnings} warning{}{}",
        args.dir.display(),
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
        if failed {
            ": FAILED"
        } else if warnings > 0 {
            " (warnings fail only with --strict): OK"
        } else {
            ": OK"
        }
    );
    Ok(u8::from(failed))
}

/// One output line: `FILE:LINE: SEVERITY: message[: fix]`.
pub fn format_problem(p: &Finding) -> String {
    let mut line = format!(
        "{}:{}: {}: {}",
        p.file.display(),
        p.line.unwrap_or(1),
        p.severity.as_str(),
        p.message
    );
    if let Some(fix) = &p.fix {
        line.push_str(": ");
        line.push_str(fix);
    }
    crate::runtime::one_line(&line)
}

fn problem(file: &Path, line: Option<usize>, severity: Severity, message: String) -> Finding {
    Finding {
        severity,
        code: "config",
        file: file.to_path_buf(),
        line,
        message,
        fix: None,
    }
}

/// Checks the host config like `hangar serve` would read it; what cannot be
/// used is reported and replaced by the defaults.
fn check_config(path: &Path, problems: &mut Vec<Finding>) -> HostConfig {
    let error = |line, message| problem(path, line, Severity::Error, message);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(error(None, format!("cannot read the host config: {e}")));
            return HostConfig::default();
        }
    };
    let mut config = match toml::from_str::<HostConfig>(&text) {
        Ok(config) => config,
        Err(e) => {
            problems.push(error(
                e.span().map(|s| manifest::line_of(&text, s.start)),
                manifest::explain_toml_error(
                    e.message(),
                    "the hangar.toml section of docs/manifest.md",
                ),
            ));
            return HostConfig::default();
        }
    };
    if let Err(reason) = config.limits.apply(Limits::default()) {
        problems.push(error(manifest::line_of_named_key(&text, &reason), reason));
        config.limits = Default::default();
    }
    let destination = config.audit.destination.as_str();
    if !matches!(destination, "off" | "stdout" | "-" | "stderr") {
        let parent = Path::new(destination)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            problems.push(error(
                manifest::line_of_named_key(&text, "audit.destination"),
                format!(
                    "audit.destination = \"{destination}\": the directory {} does not exist: \
                     create it, or use \"stdout\"",
                    parent.display()
                ),
            ));
        }
    }
    if let Some(dir) = &config.secrets.dir
        && !dir.is_dir()
    {
        problems.push(problem(
            path,
            manifest::line_of_named_key(&text, "secrets.dir"),
            Severity::Warning,
            format!(
                "secrets.dir = \"{}\" is not a directory: secrets will only come from the \
                 environment; mount it, or remove the key",
                dir.display()
            ),
        ));
    }
    config
}

/// The files of a plugin directory.
#[derive(Default)]
struct Listing {
    components: Vec<PathBuf>,
    manifests: Vec<PathBuf>,
}

fn list(dir: &Path) -> Result<Listing, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the plugin directory: {e}: pass an existing DIR"))?;
    let mut components = Vec::new();
    let mut manifests = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if !path.is_file() {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => components.push(path),
            Some("toml") => manifests.push(path),
            _ => {}
        }
    }
    components.sort();
    manifests.sort();
    Ok(Listing {
        components,
        manifests,
    })
}

/// Manifests with no component beside them: probably a typo in a name.
/// The host config (`--config`, or any file named `hangar.toml`) is not a
/// manifest.
fn orphans(listing: &Listing, config: Option<&Path>) -> Vec<Finding> {
    let config = config.and_then(|c| c.canonicalize().ok());
    let is_config = |path: &Path| {
        path.file_name().is_some_and(|n| n == "hangar.toml")
            || (config.is_some() && path.canonicalize().ok() == config)
    };
    let components: Vec<(String, bool)> = listing
        .components
        .iter()
        .map(|c| {
            let paired = manifest::manifest_path_for(c).is_file();
            (crate::registry::plugin_id(c), paired)
        })
        .collect();
    listing
        .manifests
        .iter()
        .filter(|m| !m.with_extension("wasm").is_file() && !is_config(m))
        .map(|m| {
            let name = crate::registry::plugin_id(m);
            // The closest component name, preferring one without a manifest.
            let guess = components
                .iter()
                .map(|(c, paired)| (edit_distance(c, &name), *paired, c))
                .filter(|(distance, _, _)| *distance <= 2)
                .min();
            let fix = match guess {
                Some((_, false, guess)) => {
                    format!("did you mean {guess}.toml (for {guess}.wasm)? rename it")
                }
                Some((_, true, guess)) => format!(
                    "did you mean {guess}.toml (for {guess}.wasm)? it exists too: merge the two, \
                     then delete this one"
                ),
                None => format!(
                    "a manifest applies to the component with the same name: add {name}.wasm, \
                     rename the manifest after its component, or delete it"
                ),
            };
            Finding {
                severity: Severity::Error,
                code: "orphan-manifest",
                file: m.clone(),
                line: None,
                message: format!("manifest without a component: there is no {name}.wasm beside it"),
                fix: Some(fix),
            }
        })
        .collect()
}

/// Plugins whose `describe` returns an agent name an earlier one uses.
fn duplicate_agent_names(examined: &[Examined]) -> Vec<Finding> {
    let mut first: BTreeMap<&str, &Path> = BTreeMap::new();
    let mut findings = Vec::new();
    for e in examined {
        let Some(plugin) = &e.plugin else { continue };
        match first.get(plugin.name()) {
            Some(other) => findings.push(Finding {
                severity: Severity::Error,
                code: "duplicate-agent-name",
                file: e.file.clone(),
                line: None,
                message: format!(
                    "agent name \"{}\" is also used by {}: hangar serve refuses to start",
                    plugin.name(),
                    other.display()
                ),
                fix: Some("agent names must be unique: rename one agent".to_string()),
            }),
            None => {
                first.insert(plugin.name(), &e.file);
            }
        }
    }
    findings
}

/// Levenshtein distance, for "did you mean" on short file names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestFile;
    use crate::runtime::capabilities::HostServices;

    /// Golden tests: every `tests/manifests/invalid/NAME.toml` must be
    /// rejected with a message containing each line of `NAME.err`.
    /// `HANGAR_BLESS=1` writes the current messages into the `.err` files.
    #[test]
    fn invalid_manifests_are_rejected_with_file_line_and_fix() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/manifests/invalid");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        let bless = std::env::var_os("HANGAR_BLESS").is_some();
        let mut failures = Vec::new();
        let mut cases = 0;
        for path in &entries {
            let ext = path.extension().and_then(|e| e.to_str());
            if ext == Some("err") && !path.with_extension("toml").is_file() {
                failures.push(format!("{}: no .toml for this .err", path.display()));
            }
            if ext != Some("toml") {
                continue;
            }
            cases += 1;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let result = ManifestFile::parse(PathBuf::from(&name), text).and_then(|file| {
                crate::registry::grants("x", &file, Limits::default(), &HostServices::default())
            });
            let got = match result {
                Ok(_) => {
                    failures.push(format!("{name}: accepted, but it is in invalid/"));
                    continue;
                }
                Err(e) => e.to_string(),
            };
            assert!(!got.contains('\n'), "{name}: error spans lines: {got}");
            let err_path = path.with_extension("err");
            if bless {
                std::fs::write(&err_path, format!("{got}\n")).unwrap();
                continue;
            }
            let Ok(expected) = std::fs::read_to_string(&err_path) else {
                failures.push(format!("{name}: no {} (got: {got})", err_path.display()));
                continue;
            };
            for fragment in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if !got.contains(fragment) {
                    failures.push(format!(
                        "{name}:\n  expected: {fragment}\n  got:      {got}"
                    ));
                }
            }
        }
        assert!(cases >= 5, "only {cases} cases in {}", dir.display());
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    /// The sample manifest in docs/manifest.md is a valid manifest.
    #[test]
    fn documented_sample_manifest_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/manifest.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let start = doc.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let text = doc[start..end].to_string();
        let file = ManifestFile::parse(PathBuf::from("docs/manifest.md"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        crate::registry::grants("x", &file, Limits::default(), &HostServices::default())
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn problems_are_one_line_with_a_line_number() {
        let p = Finding {
            severity: Severity::Warning,
            code: "x",
            file: PathBuf::from("d/a.toml"),
            line: Some(3),
            message: "something\n  wrong".into(),
            fix: Some("do this".into()),
        };
        assert_eq!(
            format_problem(&p),
            "d/a.toml:3: warning: something wrong: do this"
        );
        let whole = Finding {
            line: None,
            fix: None,
            ..p
        };
        assert_eq!(
            format_problem(&whole),
            "d/a.toml:1: warning: something wrong"
        );
    }

    #[test]
    fn orphan_manifests_suggest_the_component() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "echo.wasm",
            "echo.toml",
            "databricks.wasm",
            "databrick.toml",
            "zzz.toml",
            "ecoh.toml",
            "hangar.toml",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let found = orphans(&list(dir.path()).unwrap(), None);
        let got: Vec<(String, String)> = found
            .iter()
            .map(|f| {
                (
                    f.file.file_name().unwrap().to_string_lossy().into_owned(),
                    f.fix.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, "databrick.toml");
        assert!(
            got[0].1.starts_with("did you mean databricks.toml"),
            "{}",
            got[0].1
        );
        assert_eq!(got[1].0, "ecoh.toml");
        assert!(
            got[1]
                .1
                .contains("echo.toml (for echo.wasm)? it exists too"),
            "{}",
            got[1].1
        );
        assert_eq!(got[2].0, "zzz.toml");
        assert!(got[2].1.contains("add zzz.wasm"), "{}", got[2].1);
        let config = dir.path().join("zzz.toml");
        assert_eq!(orphans(&list(dir.path()).unwrap(), Some(&config)).len(), 2);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("echo", "echo"), 0);
        assert_eq!(edit_distance("echo", "ech"), 1);
        assert_eq!(edit_distance("wait", "echo"), 4);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
