//! Forwards panic messages to the host's log.
//!
//! A panic in a guest aborts, which the host only sees as a trap ("wasm
//! `unreachable` instruction executed"); the message itself goes to WASI
//! stderr, which a host may not capture. The adapter installs this hook on
//! the first call into an instance so the reason reaches the host's log,
//! tagged with the plugin and task like any other line.

/// Installs the hook once per instance; later calls do nothing.
pub(crate) fn install() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                crate::log::error(&format!("agent {info}"));
                previous(info);
            }));
        });
    }
}
