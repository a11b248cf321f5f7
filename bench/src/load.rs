//! The closed-loop load generator: `concurrency` workers each send one
//! request, wait for the answer, and send the next, for a fixed duration
//! after a short warm-up. Latencies go into a [`Histogram`]; every answer is
//! counted by gRPC status code (and `BAD_ANSWER` when an OK answer is not the
//! echo of the inputs), so a fast server that answers errors is visible.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tonic::transport::{Channel, Endpoint};

use crate::histogram::Histogram;
use crate::proto::flyteidl::admin::Resource;
use crate::proto::flyteidl::admin::execute_task_sync_response::Res;
use crate::proto::flyteidl::service::{
    async_agent_service_client::AsyncAgentServiceClient,
    sync_agent_service_client::SyncAgentServiceClient,
};
use crate::request;

/// The RPC under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rpc {
    /// `AsyncAgentService/CreateTask` (async echo agent).
    Create,
    /// `AsyncAgentService/GetTask` on a job each worker created once.
    Get,
    /// `SyncAgentService/ExecuteTaskSync` (sync echo agent).
    Sync,
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rpc::Create => "CreateTask",
            Rpc::Get => "GetTask",
            Rpc::Sync => "ExecuteTaskSync",
        })
    }
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// `http://HOST:PORT`.
    pub endpoint: String,
    pub rpc: Rpc,
    /// Task type of the async agent (create, get) or the sync one (sync).
    pub task_type: String,
    pub concurrency: usize,
    /// HTTP/2 connections shared round-robin by the workers.
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server's process, when the bench started it: its CPU time over
    /// the measured window goes into [`LoadResult::server_cpu`].
    pub server_pid: Option<u32>,
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Latencies of OK answers during the measured window.
    pub latency: Histogram,
    /// Answers by gRPC status code name (plus `BAD_ANSWER`).
    pub codes: BTreeMap<String, u64>,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// CPU time the server used during the measured window (every thread),
    /// when its process was known.
    pub server_cpu: Option<Duration>,
}

impl LoadResult {
    /// OK answers per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latency.count() as f64 / secs
        } else {
            0.0
        }
    }

    /// OK answers per second, when there were any (a ratio's operand).
    pub fn measured_rps(&self) -> Option<f64> {
        Some(self.rps()).filter(|v| *v > 0.0)
    }

    /// p99 latency of OK answers in µs, when there were any.
    pub fn measured_p99_us(&self) -> Option<f64> {
        (self.latency.count() > 0).then(|| self.latency.quantile_us(0.99) as f64)
    }

    /// Server CPU time per answered call in µs, when it was measured.
    pub fn server_cpu_per_call_us(&self) -> Option<f64> {
        let answered: u64 = self.codes.values().sum();
        crate::server_cpu::per_call_us(self.server_cpu?, answered)
    }

    /// Answers that were not OK.
    pub fn errors(&self) -> u64 {
        self.codes
            .iter()
            .filter(|(code, _)| code.as_str() != "OK")
            .map(|(_, n)| n)
            .sum()
    }

    /// `OK=123 INTERNAL=4`.
    pub fn codes_text(&self) -> String {
        let parts: Vec<String> = self.codes.iter().map(|(c, n)| format!("{c}={n}")).collect();
        parts.join(" ")
    }

    fn merge(&mut self, other: &LoadResult) {
        self.latency.merge(&other.latency);
        for (code, n) in &other.codes {
            *self.codes.entry(code.clone()).or_default() += n;
        }
    }
}

/// Whether a resource is the echo of the bench inputs: succeeded with both
/// outputs. (Hangar and flytekit set `phase`; `state` 4 is SUCCEEDED.)
fn is_echo(resource: Option<&Resource>) -> bool {
    resource.is_some_and(|r| {
        let succeeded = r.phase == 3 || r.state == 4; // Phase::SUCCEEDED = 3
        let outputs = r.outputs.as_ref().map_or(0, |o| o.literals.len());
        succeeded && outputs == 2
    })
}

/// Connects `n` channels to `endpoint`.
async fn connect(endpoint: &str, n: usize) -> Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("bad endpoint {endpoint}"))?
        .tcp_nodelay(true);
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("cannot connect to {}", endpoint.uri()))?,
        );
    }
    Ok(channels)
}

/// One call: Ok(true) for an OK echo, Ok(false) for an OK answer that is
/// not the echo, Err for a gRPC error.
async fn call(
    spec: &LoadSpec,
    asyncc: &mut AsyncAgentServiceClient<Channel>,
    syncc: &mut SyncAgentServiceClient<Channel>,
    meta: &[u8],
) -> Result<bool, tonic::Status> {
    match spec.rpc {
        Rpc::Create => {
            let answer = asyncc.create_task(request::create(&spec.task_type)).await?;
            Ok(!answer.into_inner().resource_meta.is_empty())
        }
        Rpc::Get => {
            let answer = asyncc
                .get_task(request::get(&spec.task_type, meta.to_vec()))
                .await?;
            Ok(is_echo(answer.into_inner().resource.as_ref()))
        }
        Rpc::Sync => {
            let messages = request::execute_sync(&spec.task_type);
            let mut stream = syncc
                .execute_task_sync(tokio_stream::iter(messages))
                .await?
                .into_inner();
            let mut echo = false;
            while let Some(message) = stream.message().await? {
                if let Some(Res::Header(header)) = message.res {
                    echo = is_echo(header.resource.as_ref());
                }
            }
            Ok(echo)
        }
    }
}

/// One worker's loop.
async fn worker(spec: LoadSpec, channel: Channel, warm_until: Instant, end: Instant) -> LoadResult {
    let mut asyncc = AsyncAgentServiceClient::new(channel.clone());
    let mut syncc = SyncAgentServiceClient::new(channel);
    let mut result = LoadResult::default();
    let mut meta = Vec::new();
    if spec.rpc == Rpc::Get {
        match asyncc.create_task(request::create(&spec.task_type)).await {
            Ok(answer) => meta = answer.into_inner().resource_meta,
            Err(status) => {
                *result
                    .codes
                    .entry(format!("CREATE_FAILED:{:?}", status.code()))
                    .or_default() += 1;
                return result;
            }
        }
    }
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let outcome = call(&spec, &mut asyncc, &mut syncc, &meta).await;
        let measured = start >= warm_until && Instant::now() <= end;
        if !measured {
            continue;
        }
        let code = match outcome {
            Ok(true) => {
                result.latency.record(start.elapsed());
                "OK".to_owned()
            }
            Ok(false) => "BAD_ANSWER".to_owned(),
            Err(status) => format!("{:?}", status.code()),
        };
        *result.codes.entry(code).or_default() += 1;
    }
    result
}

/// Runs `spec` and returns what it measured.
pub async fn run(spec: &LoadSpec) -> Result<LoadResult> {
    if spec.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    let connections = spec.connections.clamp(1, spec.concurrency);
    let channels = connect(&spec.endpoint, connections).await?;
    let begin = Instant::now();
    let warm_until = begin + spec.warmup;
    let end = warm_until + spec.duration;
    let mut handles = Vec::with_capacity(spec.concurrency);
    for i in 0..spec.concurrency {
        let channel = channels[i % connections].clone();
        handles.push(tokio::spawn(worker(spec.clone(), channel, warm_until, end)));
    }
    let cpu = spec
        .server_pid
        .map(|pid| tokio::spawn(server_cpu_between(pid, warm_until, end)));
    let mut total = LoadResult::default();
    for handle in handles {
        let part = handle.await.context("a load worker panicked")?;
        total.merge(&part);
    }
    total.elapsed = spec.duration;
    if let Some(cpu) = cpu {
        total.server_cpu = cpu.await.context("the CPU sampler panicked")?;
    }
    Ok(total)
}

/// CPU time `pid` used between `from` and `to`.
async fn server_cpu_between(pid: u32, from: Instant, to: Instant) -> Option<Duration> {
    tokio::time::sleep_until(from.into()).await;
    let before = crate::server_cpu::cpu_time(pid)?;
    tokio::time::sleep_until(to.into()).await;
    let after = crate::server_cpu::cpu_time(pid)?;
    after.checked_sub(before)
}
