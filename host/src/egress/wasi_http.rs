//! The `wasi:http` wiring: every instance carries a `WasiHttpCtx` and hooks
//! whose `send_request` runs [`super::send::send`] (policy, limits, audit).
//! There is no other way out: wasmtime-wasi-http's default sender is never
//! used.

use std::sync::Arc;

use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::runtime::capabilities::Capabilities;
use crate::runtime::instance_state::InstanceState;

/// What one instance needs for `wasi:http`.
pub struct HttpState {
    ctx: WasiHttpCtx,
    hooks: EgressHooks,
}

impl HttpState {
    /// For an instance of the plugin with `capabilities`, running `task`.
    pub fn new(capabilities: Arc<Capabilities>, task: &str) -> Self {
        HttpState {
            ctx: WasiHttpCtx::new(),
            hooks: EgressHooks {
                capabilities,
                task: task.to_string(),
            },
        }
    }
}

struct EgressHooks {
    capabilities: Arc<Capabilities>,
    task: String,
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _request_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<super::send::Sent, Error>> + Send> {
        Box::new(super::send::send(
            self.capabilities.clone(),
            self.task.clone(),
            request,
            options,
        ))
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}
