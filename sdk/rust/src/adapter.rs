//! The glue between the generated WIT traits and the native agent traits:
//! convert what the host sends, call the agent, convert what it returns.
//! Every entry point first makes sure panics are reported (`panic_hook`).
//!
//! The adapters are generic over the agent, so the `export_*_agent!` macros
//! only have to name `AsyncAdapter<MyAgent>` / `SyncAdapter<MyAgent>`.

use std::marker::PhantomData;

use crate::agent::{AsyncAgent, ObservableAgent, SyncAgent};
use crate::bindings::{async_handler, identity, observability, sync_handler, wit};
use crate::error::AgentError;
use crate::handle::{TaskHandle, encode_meta};
use crate::panic_hook;
use crate::task::Task;

/// Exports an [`AsyncAgent`] (and, if it is one, an [`ObservableAgent`]).
pub struct AsyncAdapter<A>(PhantomData<fn() -> A>);

/// Exports a [`SyncAgent`].
pub struct SyncAdapter<A>(PhantomData<fn() -> A>);

type WitResult<T> = Result<T, wit::AgentError>;

fn handle<M: serde::de::DeserializeOwned>(h: wit::TaskHandle) -> Result<TaskHandle<M>, AgentError> {
    TaskHandle::try_from(h)
}

impl<A: AsyncAgent + 'static> identity::exports::flyte::agent::identity::Guest for AsyncAdapter<A> {
    fn describe() -> wit::AgentInfo {
        panic_hook::install();
        A::info().into()
    }
}

impl<A: AsyncAgent + 'static> async_handler::exports::flyte::agent::async_handler::Guest
    for AsyncAdapter<A>
{
    fn create(task: wit::Task) -> WitResult<Vec<u8>> {
        panic_hook::install();
        let run = || encode_meta(&A::create(Task::try_from(task)?)?);
        run().map_err(Into::into)
    }

    fn get(h: wit::TaskHandle) -> WitResult<wit::Resource> {
        panic_hook::install();
        let run = || A::get(handle(h)?);
        run().map(Into::into).map_err(Into::into)
    }

    fn delete(h: wit::TaskHandle) -> WitResult<()> {
        panic_hook::install();
        let run = || A::delete(handle(h)?);
        run().map_err(Into::into)
    }
}

impl<A: ObservableAgent + 'static> observability::exports::flyte::agent::observability::Guest
    for AsyncAdapter<A>
{
    fn get_metrics(
        h: wit::TaskHandle,
        query: wit::MetricsQuery,
    ) -> WitResult<Vec<wit::MetricResult>> {
        panic_hook::install();
        let run = || A::get_metrics(handle(h)?, query.into());
        run()
            .map(|results| results.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn get_logs(h: wit::TaskHandle, lines: u64, token: String) -> WitResult<wit::LogPage> {
        panic_hook::install();
        let run = || A::get_logs(handle(h)?, lines, token);
        run().map(Into::into).map_err(Into::into)
    }
}

impl<A: SyncAgent + 'static> identity::exports::flyte::agent::identity::Guest for SyncAdapter<A> {
    fn describe() -> wit::AgentInfo {
        panic_hook::install();
        A::info().into()
    }
}

impl<A: SyncAgent + 'static> sync_handler::exports::flyte::agent::sync_handler::Guest
    for SyncAdapter<A>
{
    fn do_(task: wit::Task) -> WitResult<wit::Resource> {
        panic_hook::install();
        let run = || A::do_task(Task::try_from(task)?);
        run().map(Into::into).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::tests::wit_handle;
    use crate::observe::{LogPage, MetricResult, MetricsQuery};
    use crate::task::tests::wit_task;
    use crate::{AgentInfo, Resource};
    use async_handler::exports::flyte::agent::async_handler::Guest as AsyncGuest;
    use identity::exports::flyte::agent::identity::Guest as IdentityGuest;
    use observability::exports::flyte::agent::observability::Guest as ObservabilityGuest;
    use serde_json::{Map, Value, json};
    use sync_handler::exports::flyte::agent::sync_handler::Guest as SyncGuest;

    struct Echo;

    impl AsyncAgent for Echo {
        type Metadata = Map<String, Value>;
        fn info() -> AgentInfo {
            AgentInfo::new("echo").category("echo", 0)
        }
        fn create(task: Task) -> Result<Self::Metadata, AgentError> {
            Ok(task.inputs)
        }
        fn get(handle: TaskHandle<Self::Metadata>) -> Result<Resource, AgentError> {
            Ok(Resource::succeeded_with(handle.meta))
        }
        fn delete(_: TaskHandle<Self::Metadata>) -> Result<(), AgentError> {
            Err(AgentError::recoverable("busy").with_code("Busy"))
        }
    }

    impl ObservableAgent for Echo {
        fn get_metrics(
            _: TaskHandle<Self::Metadata>,
            query: MetricsQuery,
        ) -> Result<Vec<MetricResult>, AgentError> {
            Ok(query
                .queries
                .into_iter()
                .map(|q| MetricResult::new(q, json!({"value": 42})))
                .collect())
        }
    }

    struct Upper;

    impl SyncAgent for Upper {
        fn info() -> AgentInfo {
            AgentInfo::new("upper").category("upper", 1)
        }
        fn do_task(task: Task) -> Result<Resource, AgentError> {
            let s: String = task.input("s")?;
            let mut out = Map::new();
            out.insert("s".into(), Value::String(s.to_uppercase()));
            Ok(Resource::succeeded_with(out))
        }
    }

    #[test]
    fn async_round_trip_through_the_wit_types() {
        let info = <AsyncAdapter<Echo> as IdentityGuest>::describe();
        assert_eq!(info.name, "echo");
        assert_eq!(info.categories[0].name, "echo");

        let meta = AsyncAdapter::<Echo>::create(wit_task("echo", "{}", r#"{"a": [1, 2]}"#))
            .expect("create");
        assert_eq!(meta, br#"{"a":[1,2]}"#);
        let r = AsyncAdapter::<Echo>::get(wit_handle("echo", &meta)).expect("get");
        assert!(matches!(r.phase, wit::Phase::Succeeded));
        assert!(matches!(r.outputs, Some(wit::Outputs::Json(ref t)) if t == r#"{"a":[1,2]}"#));

        let e = AsyncAdapter::<Echo>::delete(wit_handle("echo", &meta)).expect_err("delete");
        assert_eq!(e.code, "Busy");
        assert!(matches!(e.kind, wit::ErrorKind::Recoverable));
    }

    #[test]
    fn host_garbage_becomes_agent_errors() {
        let e = AsyncAdapter::<Echo>::create(wit_task("echo", "{}", "nope")).expect_err("inputs");
        assert_eq!(e.code, "InvalidInputs");
        let e = AsyncAdapter::<Echo>::get(wit_handle("echo", b"[")).expect_err("meta");
        assert_eq!(e.code, "InvalidResourceMeta");
        assert!(matches!(e.kind, wit::ErrorKind::NonRecoverable));
    }

    #[test]
    fn observability_defaults_and_overrides() {
        let q = wit::MetricsQuery {
            queries: vec!["EXECUTION_METRIC_LIMIT_MEMORY_BYTES".into()],
            start_time: Some(wit::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            end_time: None,
            step_seconds: Some(1.0),
        };
        let m = AsyncAdapter::<Echo>::get_metrics(wit_handle("echo", b"{}"), q).expect("metrics");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].data, r#"{"value":42}"#);
        let page = AsyncAdapter::<Echo>::get_logs(wit_handle("echo", b"{}"), 10, String::new())
            .expect("logs");
        let empty: wit::LogPage = LogPage::default().into();
        assert_eq!(page.lines, empty.lines);
        assert_eq!(page.next_token, "");
    }

    #[test]
    fn sync_round_trip() {
        let info = <SyncAdapter<Upper> as IdentityGuest>::describe();
        assert_eq!(info.categories[0].version, 1);
        let r = SyncAdapter::<Upper>::do_(wit_task("upper", "{}", r#"{"s": "hi"}"#)).expect("do");
        assert!(matches!(r.outputs, Some(wit::Outputs::Json(ref t)) if t == r#"{"s":"HI"}"#));
        let e = SyncAdapter::<Upper>::do_(wit_task("upper", "{}", "{}")).expect_err("missing");
        assert_eq!(e.code, "MissingInput");
    }
}
