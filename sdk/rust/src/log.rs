//! Logging through the host: lines go to the host's log, tagged with the
//! plugin and the task (a component has no useful stderr of its own).
//!
//! Plain functions take a message; the macros of the same names format one:
//!
//! ```no_run
//! use hangar_agent::log;
//! log::info("job submitted");
//! log::warn!("quota at {}%", 93);
//! ```
//!
//! Outside WebAssembly (unit tests of an agent) lines go to stderr instead.

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::base::flyte::agent::logging;
        let level = match level {
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        logging::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hangar_log_debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hangar_log_info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hangar_log_warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hangar_log_error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}

/// `log::debug!("{}", x)`: formats, then logs at debug level.
pub use crate::__hangar_log_debug as debug;
/// `log::error!("{}", x)`: formats, then logs at error level.
pub use crate::__hangar_log_error as error;
/// `log::info!("{}", x)`: formats, then logs at info level.
pub use crate::__hangar_log_info as info;
/// `log::warn!("{}", x)`: formats, then logs at warn level.
pub use crate::__hangar_log_warn as warn;
