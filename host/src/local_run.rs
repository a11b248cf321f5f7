//! `hangar run`: execute one plugin locally the way propeller would, with
//! no server and no cluster, for agent authors.
//!
//! Async agents: create, then get every `--poll-seconds` until a terminal
//! phase (Ctrl-C or `--max-wait-seconds` deletes the job), then print the
//! outputs. Sync agents: one `do`. Both go through the same task operations
//! as the gRPC server, so what passes here passes there.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prost::Message;

use crate::cli::RunArgs;
use crate::literals;
use crate::proto::flyteidl::admin::{self, TaskCategory};
use crate::proto::flyteidl::core::{LiteralMap, TaskTemplate, task_execution::Phase};
use crate::registry::{Loader, Registry};
use crate::runtime::engine::{Profiling, build_engine, start_epoch_ticker};
use crate::tasks::{Route, TaskError, Tasks};

/// Exit code when the task itself failed (the run worked).
const TASK_FAILED: u8 = 2;

pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config = args.runtime.host_config()?;
    let limits = args.runtime.default_limits(&config)?;
    let fuel = crate::limits::fuel_metering_needed(&limits, std::slice::from_ref(&args.plugin));
    let engine = build_engine(None, fuel, Profiling::Off)?;
    let ticker = start_epoch_ticker(&engine);
    let loader = Loader::new(
        engine,
        args.runtime.cache_dir(&config),
        limits,
        // Outputs go to stdout: audit events must not mix with them.
        args.runtime.host_services(&config, true)?,
        ticker.activity(),
    )?;
    let plugin = Arc::new(loader.load_file(&args.plugin).await?);
    let mut template = match &args.template {
        Some(path) => read_template(path)?,
        None => TaskTemplate::default(),
    };
    if let Some(task_type) = &args.task_type {
        template.r#type = task_type.clone();
    } else if template.r#type.is_empty() {
        let first = plugin
            .info
            .categories
            .first()
            .context("the plugin serves no task type")?;
        template.r#type = first.name.clone();
        template.task_type_version = first.version;
    }
    let inputs = match &args.inputs {
        Some(path) => read_inputs(path, &template)?,
        None => LiteralMap::default(),
    };
    let is_sync = plugin.is_sync();
    let name = plugin.name().to_string();
    let tasks = Tasks::new(Arc::new(Registry::from_plugins(vec![plugin])?));
    eprintln!(
        "running task type \"{}\" (v{}) on agent \"{name}\" ({})",
        template.r#type,
        template.task_type_version,
        if is_sync { "sync" } else { "async" }
    );

    let resource = if is_sync {
        tasks
            .execute_sync(Some(&template), Some(&inputs), &args.output_prefix, None)
            .await
            .map_err(explain)?
    } else {
        poll_to_end(&tasks, &template, &inputs, &args).await?
    };
    report(resource)
}

async fn poll_to_end(
    tasks: &Tasks,
    template: &TaskTemplate,
    inputs: &LiteralMap,
    args: &RunArgs,
) -> anyhow::Result<admin::Resource> {
    let meta = tasks
        .create(
            Some(template),
            Some(inputs),
            &admin::Received::default(),
            &args.output_prefix,
            None,
        )
        .await
        .map_err(explain)?;
    eprintln!("created (resource_meta: {} bytes)", meta.len());
    let category = TaskCategory {
        name: template.r#type.clone(),
        version: template.task_type_version,
    };
    let route = || Route {
        category: Some(&category),
        task_type: &category.name,
    };
    let poll = Duration::from_secs_f64(args.poll_seconds.max(0.01));
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_wait_seconds.max(0.0));
    loop {
        let resource = tasks
            .get(route(), &meta, &args.output_prefix)
            .await
            .map_err(explain)?;
        if is_terminal(resource.phase) {
            return Ok(resource);
        }
        eprintln!("{} {}", phase_name(resource.phase), resource.message);
        let stop = tokio::select! {
            _ = tokio::time::sleep(poll) => Instant::now() >= deadline,
            _ = tokio::signal::ctrl_c() => true,
        };
        if stop {
            eprintln!("stopping: deleting the job");
            tasks.delete(route(), &meta).await.map_err(explain)?;
            bail!("the job was deleted before it finished");
        }
    }
}

fn report(resource: admin::Resource) -> anyhow::Result<u8> {
    let phase = phase_name(resource.phase);
    if resource.phase != Phase::Succeeded as i32 {
        let code = resource
            .agent_error
            .as_ref()
            .map(|e| format!(" [{}]", e.code))
            .unwrap_or_default();
        eprintln!("{phase}{code}: {}", resource.message);
        return Ok(TASK_FAILED);
    }
    eprintln!("{phase} {}", resource.message);
    let outputs = resource.outputs.unwrap_or_default();
    let json = literals::literal_map_to_json(&outputs)
        .map_err(|e| anyhow::anyhow!("cannot show the outputs as JSON: {e}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::Value::Object(json))?
    );
    Ok(0)
}

fn explain(error: TaskError) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

fn is_terminal(phase: i32) -> bool {
    [
        Phase::Succeeded,
        Phase::Failed,
        Phase::Aborted,
        Phase::RetryableFailed,
    ]
    .iter()
    .any(|p| *p as i32 == phase)
}

fn phase_name(phase: i32) -> &'static str {
    Phase::try_from(phase)
        .map(|p| p.as_str_name())
        .unwrap_or("UNKNOWN_PHASE")
}

/// Reads a TaskTemplate from protobuf binary (.pb) or protobuf JSON.
fn read_template(path: &Path) -> anyhow::Result<TaskTemplate> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "pb") {
        return TaskTemplate::decode(bytes.as_slice()).with_context(|| {
            format!(
                "{} is not a protobuf-encoded flyteidl.core.TaskTemplate",
                path.display()
            )
        });
    }
    from_proto_json(&bytes, "flyteidl.core.TaskTemplate")
        .with_context(|| format!("{}: not a TaskTemplate in protobuf JSON", path.display()))
}

/// Inputs: a LiteralMap (.pb) or a JSON object of plain values, typed by the
/// template's declared inputs when there are any.
fn read_inputs(path: &Path, template: &TaskTemplate) -> anyhow::Result<LiteralMap> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "pb") {
        return LiteralMap::decode(bytes.as_slice()).with_context(|| {
            format!(
                "{} is not a protobuf-encoded flyteidl.core.LiteralMap",
                path.display()
            )
        });
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let serde_json::Value::Object(object) = value else {
        bail!(
            "{} must hold a JSON object of input names to values, e.g. {{\"seconds\": 2}}",
            path.display()
        );
    };
    let declared = template.interface.as_ref().and_then(|i| i.inputs.as_ref());
    literals::json_to_literal_map(&object, declared)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn from_proto_json<M: Message + Default>(bytes: &[u8], full_name: &str) -> anyhow::Result<M> {
    let pool = prost_reflect::DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .context("the built-in descriptors are unreadable")?;
    let descriptor = pool
        .get_message_by_name(full_name)
        .with_context(|| format!("{full_name} is not in the built-in descriptors"))?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let message = prost_reflect::DynamicMessage::deserialize(descriptor, &mut deserializer)?;
    deserializer.end()?;
    Ok(M::decode(message.encode_to_vec().as_slice())?)
}
