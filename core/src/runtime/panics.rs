//! Panics in user code: caught where a task calls into its operators, so
//! that one bad record stops the application with an error that names it
//! (or goes to the dead-letter topic) instead of killing a worker thread
//! and stalling its partitions in silence.
//!
//! A process-wide panic hook, installed when the first task is created,
//! keeps the message and location of a panic raised inside [`catch`] for
//! it to report, instead of printing it; every other panic goes to the
//! hook that was there before.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

/// A caught panic: its message, with the place it was raised when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Panic(pub(crate) String);

thread_local! {
    /// True while the thread runs inside [`catch`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic [`catch`] is unwinding from.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook (once per process).
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if !CATCHING.get() {
                return previous(info);
            }
            let message = payload_message(info.payload());
            let text = match info.location() {
                Some(l) => format!("{message} (at {}:{}:{})", l.file(), l.line(), l.column()),
                None => message,
            };
            LAST.with(|last| *last.borrow_mut() = Some(text));
        }));
    });
}

/// Runs `f`; a panic in it becomes `Err` with its message.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    let outer = CATCHING.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.map_err(|payload| {
        let from_hook = LAST.with(|last| last.borrow_mut().take());
        Panic(from_hook.unwrap_or_else(|| payload_message(payload.as_ref())))
    })
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_with_its_message_and_place() {
        install_hook();
        let caught = catch(|| -> u32 { panic!("sum overflowed at {}", 7) });
        let Panic(message) = caught.unwrap_err();
        assert!(
            message.starts_with("sum overflowed at 7 (at core/src/runtime/panics.rs:"),
            "{message}"
        );
    }

    #[test]
    fn no_panic_is_the_value() {
        assert_eq!(catch(|| 3), Ok(3));
    }

    #[test]
    fn a_payload_that_is_not_a_string_is_said_so() {
        let Err(Panic(message)) = catch(|| -> u8 { std::panic::panic_any(42u8) }) else {
            panic!("not caught")
        };
        assert!(
            message.starts_with("a panic with a payload that is not a string"),
            "{message}"
        );
    }
}
