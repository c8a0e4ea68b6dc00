import pg from 'pg';

/**
 * One holder per deployment for a piece of background work: a session advisory lock on a
 * connection of its own. Whoever holds it does the work; the others ask again each time they
 * would work. A holder that dies (crash, SIGKILL, network) loses its session and with it the
 * lock, so another process takes over at its next try — no lease to expire, no row to clean.
 *
 * Session locks need a session: `url` must be a direct connection (DATABASE_DIRECT_URL), not a
 * transaction-mode pooler, which would hand the session to other clients between statements.
 */
export class LeaderLock {
  private client?: pg.Client;
  private held = false;
  private connecting?: Promise<void>;

  constructor(
    private readonly url: string,
    /** Names the work; each name is its own lock. */
    readonly name: string,
  ) {}

  /** True when this process holds the lock (taking it if it is free). Never throws: false on any error. */
  async acquire(): Promise<boolean> {
    try {
      if (this.held && this.client) return true;
      await this.connect();
      const { rows } = await this.client!.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(hashtext('trellis.background'), hashtext($1)) AS ok`,
        [this.name],
      );
      this.held = rows[0]?.ok === true;
      return this.held;
    } catch {
      this.drop();
      return false;
    }
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Gives the lock up (ending the session releases it even if the unlock is never sent). */
  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.client) return;
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url, application_name: `trellis ${this.name}` });
      // A session that dies takes the lock with it: note it, and take it again next time.
      client.on('error', () => this.drop());
      client.on('end', () => this.drop(client));
      await client.connect();
      this.client = client;
    })().finally(() => (this.connecting = undefined));
    await this.connecting;
  }

  private drop(client?: pg.Client): void {
    if (client && client !== this.client) return;
    const old = this.client;
    this.client = undefined;
    this.held = false;
    old?.end().catch(() => undefined);
  }
}
