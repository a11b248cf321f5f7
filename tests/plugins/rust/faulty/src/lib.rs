//! Test fixture for the host's error handling (not an example): each task
//! type fails in one particular way, so the host's tests can check that
//! agent errors become failed resources and that traps are contained.
//!
//! | task type | create | get |
//! |---|---|---|
//! | `fail_permanent` | non-recoverable error "the job is broken" (`Broken`) | same |
//! | `fail_retryable` | recoverable error "try again later" (`Busy`) | same |
//! | `trap_panic` | panics | SUCCEEDED |
//! | `trap_unreachable` | executes `unreachable` | SUCCEEDED |
//! | `out_of_bounds` | reads far beyond linear memory | SUCCEEDED |
//! | `huge_meta` | returns a resource_meta of `bytes` bytes (input, default 1 MiB) | SUCCEEDED |

use hangar_agent::{AgentError, AgentInfo, AsyncAgent, Resource, Task, TaskHandle, Value, log};

const CATEGORIES: [&str; 6] = [
    "fail_permanent",
    "fail_retryable",
    "trap_panic",
    "trap_unreachable",
    "out_of_bounds",
    "huge_meta",
];

struct Faulty;

impl AsyncAgent for Faulty {
    /// Whatever the host sends back; get only looks at the category.
    type Metadata = Value;

    fn info() -> AgentInfo {
        CATEGORIES
            .iter()
            .fold(AgentInfo::new("faulty"), |info, c| info.category(*c, 0))
    }

    fn create(task: Task) -> Result<Value, AgentError> {
        let category = task.category.name.as_str();
        log::info!("faulty agent: create {category}");
        match category {
            "fail_permanent" => Err(broken()),
            "fail_retryable" => Err(busy()),
            "trap_panic" => panic!("agent panicked on purpose"),
            "trap_unreachable" => trap_unreachable(),
            "out_of_bounds" => read_out_of_bounds(),
            "huge_meta" => {
                let bytes: usize = task.optional_input("bytes")?.unwrap_or(1 << 20);
                Ok(Value::String("x".repeat(bytes)))
            }
            other => Err(unknown(other)),
        }
    }

    fn get(job: TaskHandle<Value>) -> Result<Resource, AgentError> {
        match job.category.name.as_str() {
            "fail_permanent" => Err(broken()),
            "fail_retryable" => Err(busy()),
            _ => Ok(Resource::succeeded()),
        }
    }

    fn delete(_job: TaskHandle<Value>) -> Result<(), AgentError> {
        Ok(())
    }
}

fn broken() -> AgentError {
    AgentError::non_recoverable("the job is broken").with_code("Broken")
}

fn busy() -> AgentError {
    AgentError::recoverable("try again later").with_code("Busy")
}

fn unknown(category: &str) -> AgentError {
    AgentError::non_recoverable(format!("faulty agent has no task type `{category}`"))
        .with_code("UnknownTaskType")
}

#[cfg(target_arch = "wasm32")]
fn trap_unreachable() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap_unreachable() -> ! {
    unreachable!("the `unreachable` instruction exists only in WebAssembly")
}

/// Reads 8 bytes at 0xFFFF_FFF0: past the end of any wasm32 linear memory
/// smaller than 4 GiB, so the engine traps.
#[cfg(target_arch = "wasm32")]
fn read_out_of_bounds() -> Result<Value, AgentError> {
    // SAFETY: none; trapping on this read is the point of this fixture.
    let v = unsafe { core::ptr::read_volatile(0xFFFF_FFF0usize as *const u64) };
    Ok(Value::from(v))
}

#[cfg(not(target_arch = "wasm32"))]
fn read_out_of_bounds() -> Result<Value, AgentError> {
    Err(AgentError::non_recoverable(
        "out_of_bounds traps only in WebAssembly",
    ))
}

hangar_agent::export_async_agent!(Faulty);
