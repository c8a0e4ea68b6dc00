import pg from 'pg';
import { API_KEYS_CHANNEL, EVENTS_CHANNEL, parseApiKeyNotice, parseNotice } from '../mirror';

/**
 * What a subscriber hears. `seq` is the highest sequence number the mirror wrote for the run in
 * one transaction; `resync` means notifications may have been missed (the LISTEN connection was
 * re-established), so the subscriber must re-read everything past the last seq it sent.
 */
export type ExecutionEventNotice =
  | { executionId: string; seq: number; resync?: false; items?: undefined }
  | { executionId: string; resync: true; items?: undefined }
  /** A batch of a map node's item rows was written (no seq: item rows are not ordered transitions). */
  | { executionId: string; items: string; resync?: false };
export type ExecutionEventListener = (notice: ExecutionEventNotice) => void;
/**
 * Told the hash of each API key revoked anywhere, or `undefined` when revocations may have been
 * missed (the LISTEN connection went down or came back): then forget every cached key.
 */
export type ApiKeyRevocationListener = (keyHash: string | undefined) => void;

export interface ExecutionEventHubOptions {
  /** First reconnect delay; doubles on each failed attempt up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often SSE streams fed by this hub send a `: ping` comment (proxies drop idle connections). */
  heartbeatMs?: number;
  /** Told about lost connections and failed reconnects; the hub keeps retrying regardless. */
  onError?: (err: unknown, context: string) => void;
}

/**
 * One LISTEN connection per API process, fanned out to every open event stream by execution id.
 * Notifications only say "something changed up to seq N": the rows themselves stay in Postgres,
 * so a missed notification costs latency, never data, as long as subscribers re-read on resync.
 */
export class ExecutionEventHub {
  readonly heartbeatMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly onError: (err: unknown, context: string) => void;
  private readonly listeners = new Map<string, Set<ExecutionEventListener>>();
  private readonly keyListeners = new Set<ApiKeyRevocationListener>();
  private databaseUrl: string | undefined;
  private client: pg.Client | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private closed = false;

  constructor(options: ExecutionEventHubOptions = {}) {
    this.minBackoffMs = options.minBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.onError = options.onError ?? (() => {});
    this.backoffMs = this.minBackoffMs;
  }

  /** Connects and LISTENs; rejects if the first connection fails (the process should not start half-wired). */
  async start(databaseUrl: string): Promise<void> {
    if (this.databaseUrl !== undefined) throw new Error('ExecutionEventHub already started');
    this.databaseUrl = databaseUrl;
    try {
      this.client = await this.connect();
    } catch (err) {
      this.databaseUrl = undefined; // let the caller retry start()
      throw err;
    }
  }

  /** Whether the LISTEN connection is currently up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  subscribe(executionId: string, listener: ExecutionEventListener): () => void {
    let set = this.listeners.get(executionId);
    if (!set) this.listeners.set(executionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(executionId) === set) this.listeners.delete(executionId);
    };
  }

  /** API-key revocations on every process (the same LISTEN connection; see `connected` for whether they are heard). */
  onApiKeyRevoked(listener: ApiKeyRevocationListener): () => void {
    this.keyListeners.add(listener);
    return () => this.keyListeners.delete(listener);
  }

  /** Open subscriptions, for one execution or in total (tests and diagnostics). */
  subscriberCount(executionId?: string): number {
    if (executionId !== undefined) return this.listeners.get(executionId)?.size ?? 0;
    let total = 0;
    for (const set of this.listeners.values()) total += set.size;
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<pg.Client> {
    // keepAlive: a half-open TCP connection (NAT timeout, failover) would otherwise look alive forever.
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, application_name: 'trellis-events' });
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL && message.payload) this.dispatch(message.payload);
      if (message.channel === API_KEYS_CHANNEL && message.payload) {
        const keyHash = parseApiKeyNotice(message.payload);
        if (keyHash) this.revoked(keyHash);
      }
    });
    // pg emits 'error' (and later 'end') when the server goes away; either means "reconnect".
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('LISTEN connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${API_KEYS_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners();
      client.on('error', () => {}); // a late socket error on a discarded client must not crash the process
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  private dispatch(payload: string): void {
    // Not ours to interpret when it does not parse; the channel is Trellis-private but a stray NOTIFY must not crash the API.
    const notice = parseNotice(payload);
    if (notice) this.emit(notice.executionId, notice);
  }

  private revoked(keyHash: string | undefined): void {
    for (const listener of [...this.keyListeners]) {
      try {
        listener(keyHash);
      } catch (err) {
        this.onError(err, 'api key revocation listener threw');
      }
    }
  }

  private emit(executionId: string, notice: ExecutionEventNotice): void {
    // Copy: a listener may unsubscribe (stream closed on a terminal event) while we iterate.
    for (const listener of [...(this.listeners.get(executionId) ?? [])]) {
      try {
        listener(notice);
      } catch (err) {
        this.onError(err, 'execution event listener threw');
      }
    }
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.closed || this.client !== client) return; // already handled (error then end) or shutting down
    this.client = undefined;
    client.removeAllListeners('notification');
    client.on('error', () => {});
    void client.end().catch(() => {});
    this.revoked(undefined); // revocations from now until we listen again go unheard
    this.onError(err, 'execution events: LISTEN connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    this.reconnectTimer.unref(); // never keep the process alive just to reconnect
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (err) {
      this.onError(err, 'execution events: reconnect failed; retrying');
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.backoffMs = this.minBackoffMs;
    this.revoked(undefined); // anything cached while we were away may have been revoked since
    // Anything committed while we were away produced no notification we heard: every subscriber re-reads.
    for (const executionId of [...this.listeners.keys()]) this.emit(executionId, { executionId, resync: true });
  }
}
