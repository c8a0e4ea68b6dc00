import pg from 'pg';

const DEMO_DATABASE = 'trellis_demo';

/**
 * The `reports` connection of examples/scheduled-report-postgres.json in dev mode: a database
 * `trellis_demo` beside Trellis's own, with a small `sales` table, made once. Returns its URL,
 * or undefined with the reason when the server does not let us create it.
 */
export async function ensureDemoReportsDatabase(adminUrl: string): Promise<{ url?: string; note?: string }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DEMO_DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DEMO_DATABASE}`);
  } catch (err) {
    return { note: `demo reports database not created (${(err as Error).message}); set TRELLIS_PG_REPORTS_URL for scheduled-report-postgres` };
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(adminUrl);
  url.pathname = `/${DEMO_DATABASE}`;
  const demo = new pg.Client({ connectionString: url.toString() });
  try {
    await demo.connect();
    await demo.query(`CREATE TABLE IF NOT EXISTS sales (
      id serial PRIMARY KEY, sold_on date NOT NULL, region text NOT NULL, product text NOT NULL,
      quantity int NOT NULL, amount_cents bigint NOT NULL)`);
    const { rows } = await demo.query<{ n: number }>('SELECT count(*)::int AS n FROM sales');
    if (rows[0]!.n === 0) {
      // The examples' sampleInput asks for 2026-11-21 in emea; a few other rows make the filter visible.
      await demo.query(`INSERT INTO sales (sold_on, region, product, quantity, amount_cents) VALUES
        ('2026-11-21', 'emea', 'widget', 12, 14400), ('2026-11-21', 'emea', 'gadget', 3, 8997),
        ('2026-11-21', 'emea', 'widget', 5, 6000), ('2026-11-21', 'amer', 'widget', 40, 48000),
        ('2026-11-20', 'emea', 'gizmo', 7, 3493)`);
    }
    return { url: url.toString() };
  } catch (err) {
    return { note: `demo reports database not seeded (${(err as Error).message})` };
  } finally {
    await demo.end().catch(() => undefined);
  }
}
