//! Bundle routes. Building, verifying and inspecting audit bundles over
//! HTTP is not provided by this build: each route answers the registered
//! `not_implemented` problem (the offline `arxi` CLI is the verifier).

use crate::problem::{Code, Problem};
use crate::routes::{Call, Reply};

fn not_implemented(call: &Call) -> Problem {
    Problem::new(Code::NotImplemented).with("route", call.route.path)
}

/// `POST /v1/bundles/build`.
pub async fn build(call: Call) -> Result<Reply, Problem> {
    Err(not_implemented(&call))
}

/// `POST /v1/bundles/verify`.
pub async fn verify(call: Call) -> Result<Reply, Problem> {
    Err(not_implemented(&call))
}

/// `POST /v1/bundles/inspect`.
pub async fn inspect(call: Call) -> Result<Reply, Problem> {
    Err(not_implemented(&call))
}
