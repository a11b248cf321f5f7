//! Example agent: a drop-in for flytekit's built-in Webhook connector.
//!
//! Serves task type `webhook` (version 0), the type flytekit's `WebhookTask`
//! registers, as a sync agent. It reads the same `TaskTemplate.custom` fields
//! (`url`, `method`, `headers`, `data`, `show_data`, `show_url`,
//! `timeout_sec`), renders `{inputs.NAME}` in all of them the way flytekit
//! does, and sends one request:
//!
//! - `GET`: `data` becomes the query string (replacing any query the URL
//!   had, as httpx does); any other method is sent as `POST` with `data` as
//!   the JSON body.
//! - A 200 answer succeeds with output `info` = `{status_code,
//!   response_data}` plus `input_data` (the rendered `data`) when `show_data`
//!   and `url` when `show_url`. Any other status fails with flytekit's
//!   message, `Webhook failed with status code N, response: TEXT`.
//!
//! Unlike flytekit's connector, the destination must be allowed in the
//! plugin's manifest (`webhook.toml`, `[[http.allow]]`): a webhook task can
//! only reach what the operator lists.

pub mod flytekit_inputs;
pub mod literal_shape;
pub mod python_text;
pub mod template;
pub mod webhook_call;

use hangar_agent::{AgentError, AgentInfo, Resource, SyncAgent, Task};

/// The agent (flytekit's `WebhookConnector`).
pub struct Webhook;

impl SyncAgent for Webhook {
    fn info() -> AgentInfo {
        AgentInfo::new("Webhook Connector").category("webhook", 0)
    }

    fn do_task(task: Task) -> Result<Resource, AgentError> {
        // Like flytekit, every failure is a FAILED resource carrying the
        // message, not an agent error.
        Ok(webhook_call::run(&task))
    }
}

hangar_agent::export_sync_agent!(Webhook);
