//! `hangar new`: a new agent project that builds and passes its own test
//! out of the box, in Rust, Python, JavaScript or Go.
//!
//! Everything comes from files embedded in the binary at build time (see
//! `build.rs`), so the command works wherever `hangar` is copied and the
//! project matches this host's WIT exactly:
//! - the language's template (`host/templates/<lang>/`), with `{{name}}`,
//!   `{{name_snake}}` and `{{name_pascal}}` replaced in file contents and a
//!   `.tmpl` suffix dropped from file names;
//! - the SDK (`sdk/<lang>/`), vendored verbatim into `NAME/hangar/sdk/<lang>/`;
//! - the WIT package (`wit/`), into `NAME/hangar/wit/`, where the SDK expects
//!   it (`../../wit` from the SDK).
//!
//! The project is written into a temporary directory beside the target and
//! renamed into place at the end: a failure leaves nothing behind, and an
//! existing directory is never touched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Where an embedded file comes from, which decides where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Template,
    Sdk,
    Wit,
}

/// One file compiled into the binary by `build.rs`.
struct EmbeddedFile {
    /// The language it belongs to ("" for the WIT, shared by all).
    lang: &'static str,
    origin: Origin,
    /// Path relative to its source directory, with `/` separators.
    path: &'static str,
    bytes: &'static [u8],
}

mod embedded {
    use super::{EmbeddedFile, Origin};
    include!(concat!(env!("OUT_DIR"), "/scaffold_files.rs"));
}

/// The languages an agent can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
    Go,
}

impl Language {
    fn key(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
            Language::Go => "go",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::Go => "Go",
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Example:
  hangar new --lang python my-agent
  cd my-agent && make test && make build
  hangar run my-agent.wasm --inputs <(echo '{\"name\": \"World\"}')

The project holds the agent (an async hello agent serving task type NAME with _ for -),
a Makefile (`make test`: the agent's own unit test, natively; `make build`: NAME.wasm),
a README, and a copy of the SDK and WIT in NAME/hangar/ so it builds offline.")]
pub struct NewArgs {
    /// Language of the agent.
    #[arg(long, value_enum)]
    pub lang: Language,
    /// Name of the agent and its directory: lower-case letters, digits and
    /// single hyphens, starting with a letter (e.g. `my-agent`). Its task
    /// type is the name with `_` for `-` (`my_agent`).
    pub name: String,
    /// Directory to create the project in.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// The forms of the agent's name the templates use.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Names {
    kebab: String,
    snake: String,
    pascal: String,
}

/// Longest name accepted (it becomes a directory, a crate, a package and a
/// task type).
const MAX_NAME_LEN: usize = 63;

impl Names {
    fn parse(name: &str) -> Result<Names, String> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "\"{name}\" is not a valid agent name: use lower-case letters, digits and single \
                 hyphens, starting with a letter and not ending with a hyphen, at most \
                 {MAX_NAME_LEN} characters (e.g. \"my-agent\")"
            ));
        }
        let pascal = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Names {
            kebab: name.to_string(),
            snake: name.replace('-', "_"),
            pascal,
        })
    }

    /// `text` with every placeholder replaced.
    fn fill(&self, text: &str) -> String {
        text.replace("{{name_snake}}", &self.snake)
            .replace("{{name_pascal}}", &self.pascal)
            .replace("{{name}}", &self.kebab)
    }
}

/// Where an embedded file goes in the project, and its bytes there.
fn project_file(file: &EmbeddedFile, names: &Names) -> (PathBuf, Vec<u8>) {
    match file.origin {
        Origin::Wit => (Path::new("hangar/wit").join(file.path), file.bytes.to_vec()),
        Origin::Sdk => (
            Path::new("hangar/sdk").join(file.lang).join(file.path),
            file.bytes.to_vec(),
        ),
        Origin::Template => {
            let path = file.path.strip_suffix(".tmpl").unwrap_or(file.path);
            let bytes = match std::str::from_utf8(file.bytes) {
                Ok(text) => names.fill(text).into_bytes(),
                Err(_) => file.bytes.to_vec(),
            };
            (PathBuf::from(path), bytes)
        }
    }
}

/// The files of a new project, relative to its directory.
fn project_files(lang: Language, names: &Names) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let files: Vec<&EmbeddedFile> = embedded::FILES
        .iter()
        .filter(|f| f.origin == Origin::Wit || f.lang == lang.key())
        .collect();
    let has = |origin| files.iter().any(|f| f.origin == origin);
    if !has(Origin::Template) || !has(Origin::Sdk) {
        anyhow::bail!(
            "this hangar binary was built without the {} template or SDK (host/templates/{} and \
             sdk/{} were missing at build time): rebuild it from a complete checkout",
            lang.title(),
            lang.key(),
            lang.key()
        );
    }
    Ok(files.iter().map(|f| project_file(f, names)).collect())
}

/// `hangar new`: writes the project, prints what to do next.
pub fn command(args: NewArgs) -> anyhow::Result<u8> {
    let names = Names::parse(&args.name).map_err(anyhow::Error::msg)?;
    let target = args.dir.join(&names.kebab);
    if target.exists() {
        anyhow::bail!(
            "{} already exists: choose another name or --dir, or remove it first",
            target.display()
        );
    }
    let files = project_files(args.lang, &names)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let staging = args.dir.join(format!(
        ".{}.hangar-new-{}",
        names.kebab,
        std::process::id()
    ));
    let written = write_all(&staging, &files).and_then(|()| {
        std::fs::rename(&staging, &target).with_context(|| {
            format!(
                "cannot rename {} to {}",
                staging.display(),
                target.display()
            )
        })
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    print!("{}", next_steps(args.lang, &names, &target, files.len()));
    Ok(0)
}

fn write_all(root: &Path, files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    for (relative, bytes) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        if relative.extension().is_some_and(|e| e == "sh") {
            make_executable(&path)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

fn next_steps(lang: Language, names: &Names, target: &Path, count: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Created {} ({} agent \"{}\", task type {}, {count} files)\n",
        target.display(),
        lang.title(),
        names.kebab,
        names.snake
    );
    let _ = writeln!(out, "Next:");
    let _ = writeln!(out, "  cd {}", target.display());
    let _ = writeln!(
        out,
        "  make test     # the agent's unit test, no Wasm needed"
    );
    let _ = writeln!(out, "  make build    # builds {}.wasm", names.kebab);
    let _ = writeln!(out, "  echo '{{\"name\": \"World\"}}' > inputs.json");
    let _ = writeln!(
        out,
        "  hangar run {}.wasm --inputs inputs.json",
        names.kebab
    );
    let _ = writeln!(
        out,
        "  cp {0}.wasm /path/to/plugins/   # serve it: hangar serve --plugins /path/to/plugins",
        names.kebab
    );
    let _ = writeln!(out, "\nREADME.md in the project says more.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_converted() {
        let cases: [(&str, Option<(&str, &str)>); 12] = [
            ("my-agent", Some(("my_agent", "MyAgent"))),
            ("a", Some(("a", "A"))),
            ("bigquery2-sync", Some(("bigquery2_sync", "Bigquery2Sync"))),
            ("x1", Some(("x1", "X1"))),
            ("", None),
            ("My-agent", None),
            ("1agent", None),
            ("-agent", None),
            ("agent-", None),
            ("my--agent", None),
            ("my_agent", None),
            ("../etc", None),
        ];
        for (name, expected) in cases {
            match (Names::parse(name), expected) {
                (Ok(n), Some((snake, pascal))) => {
                    assert_eq!(
                        (n.snake.as_str(), n.pascal.as_str()),
                        (snake, pascal),
                        "{name}"
                    );
                }
                (Err(e), None) => assert!(e.contains("is not a valid agent name"), "{e}"),
                (got, want) => panic!("{name:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(Names::parse(&"a".repeat(MAX_NAME_LEN)).is_ok());
        assert!(Names::parse(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn placeholders_are_filled() {
        let names = Names::parse("my-agent").expect("valid");
        assert_eq!(
            names.fill("{{name}} {{name_snake}} {{name_pascal}} {{other}}"),
            "my-agent my_agent MyAgent {{other}}"
        );
    }

    #[test]
    fn files_land_where_the_sdk_expects_them() {
        let names = Names::parse("demo").expect("valid");
        let template = EmbeddedFile {
            lang: "go",
            origin: Origin::Template,
            path: "go.mod.tmpl",
            bytes: b"module {{name}}\n",
        };
        let sdk = EmbeddedFile {
            lang: "go",
            origin: Origin::Sdk,
            path: "agent.go",
            bytes: b"package {{name}}",
        };
        let wit = EmbeddedFile {
            lang: "",
            origin: Origin::Wit,
            path: "agent.wit",
            bytes: b"package flyte:agent;",
        };
        assert_eq!(
            project_file(&template, &names),
            (PathBuf::from("go.mod"), b"module demo\n".to_vec())
        );
        // SDK and WIT files are copied verbatim.
        assert_eq!(
            project_file(&sdk, &names),
            (
                PathBuf::from("hangar/sdk/go/agent.go"),
                b"package {{name}}".to_vec()
            )
        );
        assert_eq!(
            project_file(&wit, &names).0,
            PathBuf::from("hangar/wit/agent.wit")
        );
    }

    #[test]
    fn the_wit_is_embedded() {
        assert!(
            embedded::FILES
                .iter()
                .any(|f| f.origin == Origin::Wit && f.path == "agent.wit")
        );
    }
}
