//! What the sidecar serves besides the API's own JSON: the browser
//! verifier page (`GET /verify`, the file `web.verifier_page_file` names,
//! read once at start) and the generated OpenAPI document
//! (`GET /v1/openapi.json`, built once from the route table and the body
//! types, byte for byte the one `arxi-sidecar contract openapi` prints).
//!
//! Neither reads evidence: the page verifies bundles in the auditor's
//! browser, with nothing sent back here.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::call::{Call, Reply};
use crate::problem::{Code, Problem};
use crate::response_body::ResponseBody;

/// The page's own policy, as its `<meta>` states it: no request may leave
/// it, so a bundle opened there stays on the machine.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; worker-src blob:; style-src 'unsafe-inline'; connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /verify`: the browser verifier.
pub async fn verifier_page(call: Call) -> Result<Reply, Problem> {
    let Some(page) = call.state.verifier_page.clone() else {
        return Err(Problem::new(Code::NotFound).detail(
            "this sidecar serves no verifier page: set web.verifier_page_file (scripts/build-verify-web.sh makes the file)",
        ));
    };
    Ok(Reply {
        status: StatusCode::OK,
        content_type: "text/html; charset=utf-8",
        body: ResponseBody::whole(page),
        headers: vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ],
    })
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document of this build.
pub async fn openapi(_call: Call) -> Result<Reply, Problem> {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    let document = DOCUMENT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&crate::openapi::document())
            .expect("a JSON value built in memory always serializes");
        text.push('\n');
        Bytes::from(text)
    });
    Ok(Reply::json(StatusCode::OK, document.clone()))
}
