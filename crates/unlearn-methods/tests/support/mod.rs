//! Code shared by the integration tests (and the `parity_case` example).

pub mod parity_case;
