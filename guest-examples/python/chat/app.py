"""chat: a sync agent that asks an OpenAI-compatible chat-completions endpoint.

Task type `chat`. Inputs: `prompt` (text; `message` is accepted too, as in
flytekit's ChatGPT task) and optionally `system` (a system prompt).
`custom` (the task's settings): `model`, `base_url`, `system`, `timeout_s`,
`openai_organization`, and any other chat-completions parameter
(`temperature`, `max_tokens`, ...) passed on as is; flytekit's nested
`chatgpt_config` dict is merged in too.
Outputs: `answer` (the reply text), `model`, `total_tokens`.

The endpoint is `custom.base_url`, else the manifest's `[config] base_url`,
else https://api.openai.com/v1. The API key never reaches this code: the
operator's manifest injects it (`[[secrets.inject]]`, `Authorization: Bearer
{secret}`) into requests the host lets through (`[[http.allow]]`).

Errors: an HTTP 429 or 5xx answer is retryable; any other non-2xx fails the
task with the endpoint's own error message; timeouts are retryable; a body
that is not a chat completion fails with `BadResponse`.
"""

from hangar_agent import AgentError, RetryableError, SyncAgent, config, export, http, log

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 60.0
# Keys of `custom` that configure this agent rather than the completion.
OWN_KEYS = {"base_url", "system", "timeout_s", "chatgpt_config", "openai_organization"}


class Chat(SyncAgent):
    name = "chat"
    task_type = "chat"

    def do(self, task):
        prompt = task.inputs.get("prompt", task.inputs.get("message"))
        if not isinstance(prompt, str) or not prompt.strip():
            raise AgentError("the chat task needs a non-empty text input `prompt`", "MissingInput")
        custom = task.custom
        params = dict(custom.get("chatgpt_config") or {})
        params.update({k: v for k, v in custom.items() if k not in OWN_KEYS})
        params["model"] = params.get("model") or config.get("model") or DEFAULT_MODEL
        system = task.inputs.get("system") or custom.get("system")
        messages = [{"role": "system", "content": str(system)}] if system else []
        params["messages"] = messages + [{"role": "user", "content": prompt}]

        base_url = (custom.get("base_url") or config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        headers = {"Accept": "application/json"}
        if custom.get("openai_organization"):
            headers["OpenAI-Organization"] = str(custom["openai_organization"])
        timeout = _seconds(custom.get("timeout_s") or config.get("timeout_s") or DEFAULT_TIMEOUT_S)

        url = f"{base_url}/chat/completions"
        log.info(f"chat: POST {url} model={params['model']}")
        response = http.post(url, json=params, headers=headers, timeout=timeout)
        if not response.ok:
            raise _endpoint_error(url, response)
        return _answer(url, response.json(), params["model"])


def _seconds(value):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise AgentError(f"timeout_s must be a number of seconds, not {value!r}", "BadConfig") from None
    if seconds <= 0:
        raise AgentError("timeout_s must be positive", "BadConfig")
    return seconds


def _endpoint_error(url, response):
    """The endpoint's own message (OpenAI's `{"error": {"message": ...}}`)."""
    detail = response.text.strip()[:500]
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            detail = str(error["message"])
        elif isinstance(error, str):
            detail = error
    except AgentError:
        pass
    message = f"{url} answered HTTP {response.status}: {detail or '(empty body)'}"
    code = f"Http{response.status}"
    if response.status == 429 or response.status >= 500:
        return RetryableError(message, code)
    return AgentError(message, code)


def _answer(url, body, model):
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise AgentError(f"{url} did not answer a chat completion (no choices[0].message.content)", "BadResponse") from None
    usage = body.get("usage") or {}
    return {
        "answer": content if isinstance(content, str) else "",
        "model": str(body.get("model") or model),
        "total_tokens": int(usage.get("total_tokens") or 0),
    }


export(Chat)
