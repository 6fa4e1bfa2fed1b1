// Record an event with the arxi sidecar from TypeScript on Node.
//
//   ARXI_URL=http://127.0.0.1:7878 node dist/client.js
//   ARXI_SOCKET=./arxi-data/arxi.sock node dist/client.js   (the Unix socket, through undici)
//   ARXI_TOKEN_FILE=/run/secrets/arxi-token ...             (with token auth)
//
// It records one event with an Idempotency-Key, retrying on 429 and 503
// after the Retry-After the sidecar sends (the same key every time, so a
// retry can never record twice), then reads the envelope back by its
// sequence number. `npm ci && npm run build` compiles it. Exit status: 0
// recorded, 1 refused or failed.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";

const ATTEMPTS_MAX = 8;
const RETRY_AFTER_MAX_MS = 30_000;

/** What the sidecar answers when an event is durable. */
export interface Receipt {
  seq: number;
  segment_id: number;
  hash: string;
  prev_hash: string;
  received_at: string;
  key_id: string;
}

export interface ClientOptions {
  /** `http://host:port`; ignored when `socketPath` is set. */
  url: string;
  /** The sidecar's Unix socket (`transport.unix.path`). */
  socketPath?: string;
  /** A bearer token (`security.mode = "token"`). */
  token?: string;
}

type Send = (url: string, init: RequestInit) => Promise<Response>;

export class ArxiClient {
  private readonly base: string;
  private readonly send: Send;

  constructor(private readonly options: ClientOptions) {
    if (options.socketPath) {
      // Over a Unix socket the host in the URL only fills the Host header.
      const dispatcher = new Agent({ connect: { socketPath: options.socketPath } });
      this.base = "http://localhost";
      this.send = (url, init) =>
        undiciFetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
    } else {
      this.base = options.url.replace(/\/$/, "");
      this.send = (url, init) => fetch(url, init);
    }
  }

  /** One request with retries on 429/503 after Retry-After. */
  private async request(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Accept", "application/json");
    if (this.options.token) headers.set("Authorization", `Bearer ${this.options.token}`);
    for (let attempt = 0; ; attempt += 1) {
      const response = await this.send(this.base + path, { ...init, headers });
      if ((response.status !== 429 && response.status !== 503) || attempt + 1 >= ATTEMPTS_MAX) {
        return response;
      }
      await response.arrayBuffer();
      const delay = retryDelayMs(response.headers.get("Retry-After"), attempt);
      console.error(`arxi: ${response.status}, retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Records one event; the receipt once it is durable. */
  async record(event: { type: string; payload: unknown; actor?: string; subject?: string }, idempotencyKey: string): Promise<Receipt> {
    const response = await this.request("/v1/envelopes", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(event),
    });
    if (response.status !== 201) throw new Error(`not recorded: ${response.status} ${await response.text()}`);
    return (await response.json()) as Receipt;
  }

  /** One stored envelope by its sequence number. */
  async envelope(seq: number): Promise<Record<string, unknown>> {
    const response = await this.request(`/v1/envelopes?seq=${seq}`, { method: "GET" });
    if (response.status !== 200) throw new Error(`envelope ${seq}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  }
}

/** Retry-After in seconds when the sidecar sent it, else a capped backoff. */
export function retryDelayMs(hint: string | null, attempt: number): number {
  if (hint !== null && /^\d+$/.test(hint.trim())) return Math.min(Number(hint.trim()) * 1000, RETRY_AFTER_MAX_MS);
  return Math.min(100 * 2 ** attempt, RETRY_AFTER_MAX_MS);
}

async function main(): Promise<void> {
  const tokenFile = process.env.ARXI_TOKEN_FILE;
  const client = new ArxiClient({
    url: process.env.ARXI_URL ?? "http://127.0.0.1:7878",
    socketPath: process.env.ARXI_SOCKET,
    token: tokenFile ? readFileSync(tokenFile, "utf8").trim() : undefined,
  });
  const key = process.env.ARXI_IDEMPOTENCY_KEY ?? `typescript-example-${randomUUID()}`;
  const receipt = await client.record(
    { type: "orders.created", actor: "typescript-example", subject: "order/42", payload: { order: 42, amount: 12.5 } },
    key,
  );
  const envelope = await client.envelope(receipt.seq);
  if (envelope.hash !== receipt.hash) throw new Error("the stored envelope is not the one recorded");
  console.log(JSON.stringify({ client: "typescript", seq: receipt.seq, hash: receipt.hash, idempotency_key: key }));
}

main().catch((error: unknown) => {
  console.error(`arxi: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
