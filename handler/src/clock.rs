//! Time as the handler counts it: whole seconds since the Unix epoch
//! ([`Timestamp`]). The HTTP layer, the digest and the CLI take a clock as a
//! value (`fn() -> Timestamp`) so that tests can set it; this is the real one.

use crate::store::Timestamp;

/// The system clock (0 if it reads before 1970).
pub fn system_clock() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
