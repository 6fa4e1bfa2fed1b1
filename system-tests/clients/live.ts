// The live suite through the client openapi-typescript generates from the
// OpenAPI document, with openapi-fetch (system-tests/clients/run.sh):
// record with an Idempotency-Key and retry it, record with attachments,
// query with paging, seal, build, download and verify a bundle. Compiled by
// tsc in strict mode first: a valid request that the generated types
// refuse fails the compile.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

declare const process: { argv: string[]; env: Record<string, string | undefined>; exitCode: number };

const client = createClient<paths>({
  baseUrl: process.argv[2] ?? "",
  headers: { Authorization: `Bearer ${process.env["ARXI_CLIENT_TOKEN"] ?? ""}` },
});

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`live.ts: ${what}`);
  }
}

async function recordWithRetry(): Promise<void> {
  const key = `ts-order-${Date.now()}`;
  const body = {
    type: "orders.placed",
    actor: "ts-client",
    subject: "order/1",
    payload: { order: 1, amount: 12.5, items: ["a", "b"], note: null },
  };
  const first = await client.POST("/v1/envelopes", {
    params: { header: { "Idempotency-Key": key } },
    body,
  });
  check(first.response.status === 201 && first.data !== undefined, `record: ${first.response.status}`);
  const retry = await client.POST("/v1/envelopes", {
    params: { header: { "Idempotency-Key": key } },
    body,
  });
  check(retry.data?.seq === first.data?.seq, "the retry replays the same receipt");
  check(retry.response.headers.get("idempotent-replayed") === "true", "replay marker");
  const conflict = await client.POST("/v1/envelopes", {
    params: { header: { "Idempotency-Key": key } },
    body: { ...body, subject: "order/2" },
  });
  check(conflict.response.status === 409 && conflict.error?.code === "idempotency_conflict", "conflict");
}

async function recordAttachments(): Promise<void> {
  const answer = await client.POST("/v1/envelopes/with-attachments", {
    body: {
      type: "docs.signed",
      payload: { doc: "contract" },
      attachments: [{ name: "contract.txt", media_type: "text/plain", content_base64: btoa("signed contract") }],
    },
  });
  check(answer.response.status === 201, `attachments: ${answer.response.status}`);
  const invalid = await client.POST("/v1/envelopes/with-attachments", {
    body: {
      type: "docs.signed",
      payload: {},
      attachments: [{ name: "x", media_type: "Text/Plain", content_base64: "" }],
    },
  });
  check(invalid.error?.field === "attachments[0].media_type", `field path: ${JSON.stringify(invalid.error)}`);
}

async function queryPages(): Promise<number> {
  for (let n = 0; n < 5; n++) {
    await client.POST("/v1/envelopes", { body: { type: "paging.ts", payload: { n } } });
  }
  let cursor: string | undefined;
  let seen = 0;
  for (let page = 0; page < 10; page++) {
    const answer = await client.POST("/v1/query/envelopes", {
      body: cursor === undefined ? { type: "paging.ts", limit: 2 } : { type: "paging.ts", limit: 2, cursor },
    });
    check(answer.data !== undefined, "query");
    const envelopes = answer.data?.envelopes ?? [];
    for (const envelope of envelopes) {
      check(envelope.type === "paging.ts" && envelope.kind === "data", "a stored envelope");
    }
    seen += envelopes.length;
    const next = answer.data?.next_cursor;
    if (next === null || next === undefined) {
      break;
    }
    cursor = next;
  }
  check(seen === 5, `paged through ${seen} envelopes`);
  return seen;
}

async function bundleRoundTrip(): Promise<void> {
  const sealed = await client.POST("/v1/segments/seal", { body: {} });
  check(sealed.response.status === 200, `seal: ${sealed.response.status}`);
  const built = await client.POST("/v1/bundles/build", {
    params: { header: { "Idempotency-Key": `ts-bundle-${Date.now()}` } },
    body: {},
  });
  check(built.response.status === 201 && built.data !== undefined, `build: ${built.response.status}`);
  const id = built.data?.bundle.id ?? "";
  const download = await client.GET("/v1/bundles/download", {
    params: { query: { id } },
    parseAs: "arrayBuffer",
  });
  check(download.data !== undefined && download.data.byteLength === built.data?.bundle.size, "download");
  const verified = await client.POST("/v1/bundles/verify", { body: { bundle_id: id } });
  check(verified.data?.valid === true && verified.data.findings.length === 0, "verify");
  const inspected = await client.POST("/v1/bundles/inspect", { body: { bundle_id: id } });
  check(inspected.data?.manifest?.recorder_id === "clients", "inspect");
  const segments = await client.GET("/v1/segments", { params: { query: { limit: 1 } } });
  check(segments.data?.segments.length === 1, "segments with a limit");
  const badLimit = await client.GET("/v1/segments", { params: { query: { limit: 0 } } });
  check(badLimit.response.status === 422 && badLimit.error?.field === "limit", "limit=0 is a 422 naming it");
}

async function main(): Promise<void> {
  await recordWithRetry();
  await recordAttachments();
  const paged = await queryPages();
  await bundleRoundTrip();
  console.log(`live.ts: passed (record, retry, conflict, attachments, ${paged} envelopes paged, seal, build, download, verify, inspect)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
