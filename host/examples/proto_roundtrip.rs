//! Wire-compatibility probe for Hangar's flyteidl types (a dev tool, not shipped).
//!
//! Hangar's `proto/` is a hand-written subset of flyteidl 1.16 (and of flyteidl2
//! 2.0.53 for Flyte 2's connector API, checked likewise by
//! `tests/python/test_wire_compat_v2.py`). prost silently
//! drops fields it does not know, so a missing or mistyped field would lose data
//! without any error. `tests/python/test_wire_compat.py` guards against that: it
//! builds fully populated messages with the Python flyteidl 1.16.8 package,
//! pipes them through this tool (decode with the prost type, encode again) and
//! checks that what comes back parses to an equal message.
//!
//! Usage:
//! - no argument: read lines `<full.message.Name> <base64 protobuf>` on stdin and
//!   print, per line, the base64 of the re-encoded message or `ERROR <reason>`
//!   (the base64 of an empty message is empty, so both may be empty);
//! - `--list`: print the message names this tool knows, one per line;
//! - `--descriptor-set`: print the base64 of the embedded `FileDescriptorSet`
//!   (what gRPC reflection serves), so the test can compare every name, number
//!   and type with the Python descriptors.

#[path = "../src/proto.rs"]
mod proto;

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message;

use proto::flyteidl::{admin, core};
use proto::flyteidl2::{common, connector, core as core2, logs::dataplane, task};

/// Decodes `bytes` as `M` and encodes the result again.
fn roundtrip<M: Message + Default>(bytes: &[u8]) -> Result<Vec<u8>, String> {
    M::decode(bytes)
        .map(|msg| msg.encode_to_vec())
        .map_err(|e| format!("decode failed: {e}"))
}

/// Declares the known message names and the function that dispatches on them.
macro_rules! registry {
    ($($name:literal => $ty:ty,)*) => {
        /// Every protobuf message name this tool can round-trip.
        const NAMES: &[&str] = &[$($name),*];

        /// Re-encodes `bytes` with the prost type registered for `name`.
        fn reencode(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
            match name {
                $($name => roundtrip::<$ty>(bytes),)*
                _ => Err(format!("unknown message type {name:?}")),
            }
        }
    };
}

registry! {
    // flyteidl.admin (agent.proto)
    "flyteidl.admin.TaskExecutionMetadata" => admin::TaskExecutionMetadata,
    "flyteidl.admin.CreateTaskRequest" => admin::CreateTaskRequest,
    "flyteidl.admin.CreateTaskResponse" => admin::CreateTaskResponse,
    "flyteidl.admin.CreateRequestHeader" => admin::CreateRequestHeader,
    "flyteidl.admin.ExecuteTaskSyncRequest" => admin::ExecuteTaskSyncRequest,
    "flyteidl.admin.ExecuteTaskSyncResponseHeader" => admin::ExecuteTaskSyncResponseHeader,
    "flyteidl.admin.ExecuteTaskSyncResponse" => admin::ExecuteTaskSyncResponse,
    "flyteidl.admin.GetTaskRequest" => admin::GetTaskRequest,
    "flyteidl.admin.GetTaskResponse" => admin::GetTaskResponse,
    "flyteidl.admin.Resource" => admin::Resource,
    "flyteidl.admin.DeleteTaskRequest" => admin::DeleteTaskRequest,
    "flyteidl.admin.DeleteTaskResponse" => admin::DeleteTaskResponse,
    "flyteidl.admin.Agent" => admin::Agent,
    "flyteidl.admin.TaskCategory" => admin::TaskCategory,
    "flyteidl.admin.GetAgentRequest" => admin::GetAgentRequest,
    "flyteidl.admin.GetAgentResponse" => admin::GetAgentResponse,
    "flyteidl.admin.ListAgentsRequest" => admin::ListAgentsRequest,
    "flyteidl.admin.ListAgentsResponse" => admin::ListAgentsResponse,
    "flyteidl.admin.GetTaskMetricsRequest" => admin::GetTaskMetricsRequest,
    "flyteidl.admin.GetTaskMetricsResponse" => admin::GetTaskMetricsResponse,
    "flyteidl.admin.GetTaskLogsRequest" => admin::GetTaskLogsRequest,
    "flyteidl.admin.GetTaskLogsResponseHeader" => admin::GetTaskLogsResponseHeader,
    "flyteidl.admin.LogLine" => admin::LogLine,
    "flyteidl.admin.GetTaskLogsResponseBody" => admin::GetTaskLogsResponseBody,
    "flyteidl.admin.GetTaskLogsResponse" => admin::GetTaskLogsResponse,
    "flyteidl.admin.AgentError" => admin::AgentError,
    // flyteidl.core: artifact_id.proto
    "flyteidl.core.ArtifactKey" => core::ArtifactKey,
    "flyteidl.core.ArtifactBindingData" => core::ArtifactBindingData,
    "flyteidl.core.TimeTransform" => core::TimeTransform,
    "flyteidl.core.InputBindingData" => core::InputBindingData,
    "flyteidl.core.RuntimeBinding" => core::RuntimeBinding,
    "flyteidl.core.LabelValue" => core::LabelValue,
    "flyteidl.core.Partitions" => core::Partitions,
    "flyteidl.core.TimePartition" => core::TimePartition,
    "flyteidl.core.ArtifactID" => core::ArtifactId,
    "flyteidl.core.ArtifactTag" => core::ArtifactTag,
    // execution.proto
    "flyteidl.core.TaskExecution" => core::TaskExecution,
    "flyteidl.core.ExecutionError" => core::ExecutionError,
    "flyteidl.core.TaskLog" => core::TaskLog,
    // identifier.proto
    "flyteidl.core.Identifier" => core::Identifier,
    "flyteidl.core.WorkflowExecutionIdentifier" => core::WorkflowExecutionIdentifier,
    "flyteidl.core.NodeExecutionIdentifier" => core::NodeExecutionIdentifier,
    "flyteidl.core.TaskExecutionIdentifier" => core::TaskExecutionIdentifier,
    // interface.proto
    "flyteidl.core.Variable" => core::Variable,
    "flyteidl.core.VariableMap" => core::VariableMap,
    "flyteidl.core.TypedInterface" => core::TypedInterface,
    // literals.proto
    "flyteidl.core.Primitive" => core::Primitive,
    "flyteidl.core.Void" => core::Void,
    "flyteidl.core.Blob" => core::Blob,
    "flyteidl.core.BlobMetadata" => core::BlobMetadata,
    "flyteidl.core.Binary" => core::Binary,
    "flyteidl.core.Schema" => core::Schema,
    "flyteidl.core.Union" => core::Union,
    "flyteidl.core.StructuredDatasetMetadata" => core::StructuredDatasetMetadata,
    "flyteidl.core.StructuredDataset" => core::StructuredDataset,
    "flyteidl.core.Scalar" => core::Scalar,
    "flyteidl.core.Literal" => core::Literal,
    "flyteidl.core.LiteralOffloadedMetadata" => core::LiteralOffloadedMetadata,
    "flyteidl.core.LiteralCollection" => core::LiteralCollection,
    "flyteidl.core.LiteralMap" => core::LiteralMap,
    "flyteidl.core.KeyValuePair" => core::KeyValuePair,
    "flyteidl.core.RetryStrategy" => core::RetryStrategy,
    // metrics.proto
    "flyteidl.core.ExecutionMetricResult" => core::ExecutionMetricResult,
    // security.proto
    "flyteidl.core.Secret" => core::Secret,
    "flyteidl.core.OAuth2Client" => core::OAuth2Client,
    "flyteidl.core.Identity" => core::Identity,
    "flyteidl.core.OAuth2TokenRequest" => core::OAuth2TokenRequest,
    "flyteidl.core.SecurityContext" => core::SecurityContext,
    // tasks.proto
    "flyteidl.core.Resources" => core::Resources,
    "flyteidl.core.Resources.ResourceEntry" => core::resources::ResourceEntry,
    "flyteidl.core.GPUAccelerator" => core::GpuAccelerator,
    "flyteidl.core.SharedMemory" => core::SharedMemory,
    "flyteidl.core.ExtendedResources" => core::ExtendedResources,
    "flyteidl.core.RuntimeMetadata" => core::RuntimeMetadata,
    "flyteidl.core.TaskMetadata" => core::TaskMetadata,
    "flyteidl.core.TaskTemplate" => core::TaskTemplate,
    "flyteidl.core.ContainerPort" => core::ContainerPort,
    "flyteidl.core.Container" => core::Container,
    "flyteidl.core.IOStrategy" => core::IoStrategy,
    "flyteidl.core.DataLoadingConfig" => core::DataLoadingConfig,
    "flyteidl.core.K8sPod" => core::K8sPod,
    "flyteidl.core.K8sObjectMetadata" => core::K8sObjectMetadata,
    "flyteidl.core.Sql" => core::Sql,
    // types.proto
    "flyteidl.core.SchemaType" => core::SchemaType,
    "flyteidl.core.SchemaType.SchemaColumn" => core::schema_type::SchemaColumn,
    "flyteidl.core.StructuredDatasetType" => core::StructuredDatasetType,
    "flyteidl.core.StructuredDatasetType.DatasetColumn" => core::structured_dataset_type::DatasetColumn,
    "flyteidl.core.BlobType" => core::BlobType,
    "flyteidl.core.EnumType" => core::EnumType,
    "flyteidl.core.UnionType" => core::UnionType,
    "flyteidl.core.TypeStructure" => core::TypeStructure,
    "flyteidl.core.TypeAnnotation" => core::TypeAnnotation,
    "flyteidl.core.LiteralType" => core::LiteralType,
    "flyteidl.core.Error" => core::Error,
    // workflow.proto
    "flyteidl.core.TaskNodeOverrides" => core::TaskNodeOverrides,
    // flyteidl2 2.0.53 (Flyte 2 connectors), checked by test_wire_compat_v2.py
    // flyteidl2/common/identifier.proto
    "flyteidl2.common.RunIdentifier" => common::RunIdentifier,
    // flyteidl2/connector/connector.proto
    "flyteidl2.connector.Connector" => connector::Connector,
    "flyteidl2.connector.CreateTaskRequest" => connector::CreateTaskRequest,
    "flyteidl2.connector.CreateTaskResponse" => connector::CreateTaskResponse,
    "flyteidl2.connector.DeleteTaskRequest" => connector::DeleteTaskRequest,
    "flyteidl2.connector.DeleteTaskResponse" => connector::DeleteTaskResponse,
    "flyteidl2.connector.GetConnectorRequest" => connector::GetConnectorRequest,
    "flyteidl2.connector.GetConnectorResponse" => connector::GetConnectorResponse,
    "flyteidl2.connector.GetTaskLogsRequest" => connector::GetTaskLogsRequest,
    "flyteidl2.connector.GetTaskLogsResponse" => connector::GetTaskLogsResponse,
    "flyteidl2.connector.GetTaskLogsResponseBody" => connector::GetTaskLogsResponseBody,
    "flyteidl2.connector.GetTaskLogsResponseHeader" => connector::GetTaskLogsResponseHeader,
    "flyteidl2.connector.GetTaskMetricsRequest" => connector::GetTaskMetricsRequest,
    "flyteidl2.connector.GetTaskMetricsResponse" => connector::GetTaskMetricsResponse,
    "flyteidl2.connector.GetTaskRequest" => connector::GetTaskRequest,
    "flyteidl2.connector.GetTaskResponse" => connector::GetTaskResponse,
    "flyteidl2.connector.ListConnectorsRequest" => connector::ListConnectorsRequest,
    "flyteidl2.connector.ListConnectorsResponse" => connector::ListConnectorsResponse,
    "flyteidl2.connector.Resource" => connector::Resource,
    "flyteidl2.connector.TaskCategory" => connector::TaskCategory,
    "flyteidl2.connector.TaskExecutionMetadata" => connector::TaskExecutionMetadata,
    // flyteidl2/core/artifact_id.proto
    "flyteidl2.core.ArtifactBindingData" => core2::ArtifactBindingData,
    "flyteidl2.core.ArtifactCard" => core2::ArtifactCard,
    "flyteidl2.core.ArtifactID" => core2::ArtifactId,
    "flyteidl2.core.ArtifactInfo" => core2::ArtifactInfo,
    "flyteidl2.core.ArtifactKey" => core2::ArtifactKey,
    "flyteidl2.core.ArtifactTag" => core2::ArtifactTag,
    "flyteidl2.core.ArtifactVersionId" => core2::ArtifactVersionId,
    "flyteidl2.core.InputBindingData" => core2::InputBindingData,
    "flyteidl2.core.LabelValue" => core2::LabelValue,
    "flyteidl2.core.Partitions" => core2::Partitions,
    "flyteidl2.core.RuntimeBinding" => core2::RuntimeBinding,
    "flyteidl2.core.TimePartition" => core2::TimePartition,
    "flyteidl2.core.TimeTransform" => core2::TimeTransform,
    // flyteidl2/core/execution.proto
    "flyteidl2.core.TaskExecution" => core2::TaskExecution,
    "flyteidl2.core.TaskLog" => core2::TaskLog,
    // flyteidl2/core/identifier.proto
    "flyteidl2.core.Identifier" => core2::Identifier,
    "flyteidl2.core.NodeExecutionIdentifier" => core2::NodeExecutionIdentifier,
    "flyteidl2.core.TaskExecutionIdentifier" => core2::TaskExecutionIdentifier,
    "flyteidl2.core.WorkflowExecutionIdentifier" => core2::WorkflowExecutionIdentifier,
    // flyteidl2/core/interface.proto
    "flyteidl2.core.TypedInterface" => core2::TypedInterface,
    "flyteidl2.core.Variable" => core2::Variable,
    "flyteidl2.core.VariableEntry" => core2::VariableEntry,
    "flyteidl2.core.VariableMap" => core2::VariableMap,
    // flyteidl2/core/literals.proto
    "flyteidl2.core.Backoff" => core2::Backoff,
    "flyteidl2.core.Binary" => core2::Binary,
    "flyteidl2.core.Blob" => core2::Blob,
    "flyteidl2.core.BlobMetadata" => core2::BlobMetadata,
    "flyteidl2.core.KeyValuePair" => core2::KeyValuePair,
    "flyteidl2.core.Literal" => core2::Literal,
    "flyteidl2.core.LiteralCollection" => core2::LiteralCollection,
    "flyteidl2.core.LiteralMap" => core2::LiteralMap,
    "flyteidl2.core.LiteralOffloadedMetadata" => core2::LiteralOffloadedMetadata,
    "flyteidl2.core.Primitive" => core2::Primitive,
    "flyteidl2.core.RetryStrategy" => core2::RetryStrategy,
    "flyteidl2.core.Scalar" => core2::Scalar,
    "flyteidl2.core.Schema" => core2::Schema,
    "flyteidl2.core.StructuredDataset" => core2::StructuredDataset,
    "flyteidl2.core.StructuredDatasetMetadata" => core2::StructuredDatasetMetadata,
    "flyteidl2.core.TimeoutStrategy" => core2::TimeoutStrategy,
    "flyteidl2.core.Union" => core2::Union,
    "flyteidl2.core.Void" => core2::Void,
    // flyteidl2/core/metrics.proto
    "flyteidl2.core.ExecutionMetricResult" => core2::ExecutionMetricResult,
    // flyteidl2/core/security.proto
    "flyteidl2.core.Connection" => core2::Connection,
    "flyteidl2.core.Identity" => core2::Identity,
    "flyteidl2.core.OAuth2Client" => core2::OAuth2Client,
    "flyteidl2.core.OAuth2TokenRequest" => core2::OAuth2TokenRequest,
    "flyteidl2.core.Secret" => core2::Secret,
    "flyteidl2.core.SecurityContext" => core2::SecurityContext,
    // flyteidl2/core/tasks.proto
    "flyteidl2.core.Container" => core2::Container,
    "flyteidl2.core.ContainerPort" => core2::ContainerPort,
    "flyteidl2.core.DataLoadingConfig" => core2::DataLoadingConfig,
    "flyteidl2.core.ExtendedResources" => core2::ExtendedResources,
    "flyteidl2.core.GPUAccelerator" => core2::GpuAccelerator,
    "flyteidl2.core.IOStrategy" => core2::IoStrategy,
    "flyteidl2.core.K8sObjectMetadata" => core2::K8sObjectMetadata,
    "flyteidl2.core.K8sPod" => core2::K8sPod,
    "flyteidl2.core.Resources" => core2::Resources,
    "flyteidl2.core.Resources.ResourceEntry" => core2::resources::ResourceEntry,
    "flyteidl2.core.ReusePolicy" => core2::ReusePolicy,
    "flyteidl2.core.RuntimeMetadata" => core2::RuntimeMetadata,
    "flyteidl2.core.SharedMemory" => core2::SharedMemory,
    "flyteidl2.core.Sql" => core2::Sql,
    "flyteidl2.core.TaskMetadata" => core2::TaskMetadata,
    "flyteidl2.core.TaskTemplate" => core2::TaskTemplate,
    // flyteidl2/core/types.proto
    "flyteidl2.core.BlobType" => core2::BlobType,
    "flyteidl2.core.EnumType" => core2::EnumType,
    "flyteidl2.core.Error" => core2::Error,
    "flyteidl2.core.LiteralType" => core2::LiteralType,
    "flyteidl2.core.SchemaType" => core2::SchemaType,
    "flyteidl2.core.SchemaType.SchemaColumn" => core2::schema_type::SchemaColumn,
    "flyteidl2.core.StructuredDatasetType" => core2::StructuredDatasetType,
    "flyteidl2.core.StructuredDatasetType.DatasetColumn" => core2::structured_dataset_type::DatasetColumn,
    "flyteidl2.core.TypeAnnotation" => core2::TypeAnnotation,
    "flyteidl2.core.TypeStructure" => core2::TypeStructure,
    "flyteidl2.core.UnionType" => core2::UnionType,
    // flyteidl2/logs/dataplane/payload.proto
    "flyteidl2.logs.dataplane.LogLine" => dataplane::LogLine,
    // flyteidl2/task/common.proto
    "flyteidl2.task.Inputs" => task::Inputs,
    "flyteidl2.task.NamedLiteral" => task::NamedLiteral,
    "flyteidl2.task.Outputs" => task::Outputs,
    "flyteidl2.task.ProducedArtifact" => task::ProducedArtifact,
    // well-known types, as prost_types
    "google.protobuf.Struct" => prost_types::Struct,
    "google.protobuf.Value" => prost_types::Value,
    "google.protobuf.ListValue" => prost_types::ListValue,
    "google.protobuf.Timestamp" => prost_types::Timestamp,
    "google.protobuf.Duration" => prost_types::Duration,
    "google.protobuf.BoolValue" => bool,
}

/// Handles one input line and returns the output line (without newline).
fn process_line(line: &str) -> String {
    // An empty message encodes to no bytes, so the base64 part may be empty.
    let line = line.trim();
    let (name, encoded) = line.split_once(' ').unwrap_or((line, ""));
    let bytes = match B64.decode(encoded.trim()) {
        Ok(bytes) => bytes,
        Err(e) => return format!("ERROR invalid base64: {e}"),
    };
    match reencode(name, &bytes) {
        Ok(out) => B64.encode(out),
        Err(reason) => format!("ERROR {reason}"),
    }
}

fn run(mode: Option<&str>) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match mode {
        None => {
            for line in io::stdin().lock().lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                writeln!(out, "{}", process_line(&line))?;
            }
        }
        Some("--list") => {
            for name in NAMES {
                writeln!(out, "{name}")?;
            }
        }
        Some("--descriptor-set") => {
            writeln!(out, "{}", B64.encode(proto::FILE_DESCRIPTOR_SET))?;
        }
        Some(other) => {
            eprintln!(
                "unknown argument {other:?}; usage: proto_roundtrip [--list | --descriptor-set]"
            );
            return Ok(ExitCode::from(2));
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 1 {
        eprintln!("usage: proto_roundtrip [--list | --descriptor-set]");
        return ExitCode::from(2);
    }
    match run(args.first().map(String::as_str)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("proto_roundtrip: {e}");
            ExitCode::FAILURE
        }
    }
}
