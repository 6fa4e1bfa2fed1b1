//! arxi-witness: C2SP tlog-witness for arxi.
//!
//! - [`protocol`]: the bytes of `add-checkpoint` requests and answers.
//! - [`client`]: the log's side, used by the recorder to collect
//!   cosignatures.
//! - [`witness`] and [`http`]: the witness's side, served by the
//!   `arxi-witness` binary. It verifies the log's note signature and the
//!   consistency proof, persists the latest size and root per origin
//!   atomically before answering, refuses a smaller or inconsistent tree,
//!   and answers with a timestamped cosignature/v1 line.
//!
//! - [`tsa`]: the recorder's RFC 3161 client: a timestamp token over a
//!   seal's hash from a timestamp authority, checked before it is kept.
//!
//! Signed notes, checkpoints and cosignatures themselves are
//! `arxi_format::note`.

#![forbid(unsafe_code)]

pub mod client;
pub mod http;
pub mod protocol;
pub mod tsa;
pub mod witness;
