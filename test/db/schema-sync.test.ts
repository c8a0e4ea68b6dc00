import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { get_dmmf } from '@prisma/prisma-schema-wasm';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * `prisma migrate diff` needs the schema engine, which cannot be downloaded here. Instead this
 * reads schema.prisma through Prisma's own parser (the wasm build) and compares it with what the
 * SQL migrations actually created: tables, columns, types, nullability, defaults, enums,
 * indexes and foreign keys, named the way Prisma names them.
 */
interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'enum' | 'object';
  type: string;
  isRequired: boolean;
  isList: boolean;
  hasDefaultValue: boolean;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationOnDelete?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal';
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}

const schema = fs.readFileSync(path.join(__dirname, '..', '..', 'prisma', 'schema.prisma'), 'utf8');
const dmmf = JSON.parse(get_dmmf(JSON.stringify({ prismaSchema: schema }))) as {
  datamodel: { models: DmmfModel[]; enums: { name: string; values: { name: string }[] }[]; indexes: DmmfIndex[] };
};
const models = new Map(dmmf.datamodel.models.map((m) => [m.name, m]));
const table = (m: DmmfModel) => m.dbName ?? m.name;
const column = (m: DmmfModel, field: string) => {
  const f = m.fields.find((x) => x.name === field)!;
  return f.dbName ?? f.name;
};

function sqlType(f: DmmfField): string {
  if (f.kind === 'enum') return f.type;
  const native = f.nativeType?.[0];
  switch (f.type) {
    case 'String':
      return native === 'Uuid' ? 'uuid' : 'text';
    case 'Int':
      return 'integer';
    case 'BigInt':
      return 'bigint';
    case 'Boolean':
      return 'boolean';
    case 'Json':
      return 'jsonb';
    case 'DateTime':
      return native === 'Timestamptz' ? `timestamp(${f.nativeType![1][0] ?? 6}) with time zone` : 'timestamp(3) without time zone';
    default:
      throw new Error(`no SQL type mapping for ${f.type}`);
  }
}

let t: TestDatabase;
let client: pg.Client;
beforeAll(async () => {
  t = await createTestDatabase();
  client = new pg.Client({ connectionString: t.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await t?.drop();
});

describe('prisma/migrations match prisma/schema.prisma', () => {
  it('has exactly the tables and columns of the schema, with the same types, nullability and defaults', async () => {
    const { rows } = await client.query<{ table_name: string; column_name: string; type: string; nullable: boolean; has_default: boolean }>(`
      SELECT c.relname AS table_name, a.attname AS column_name,
             format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, a.atthasdef AS has_default
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> '_prisma_migrations'`);
    const actual = rows.map((r) => `${r.table_name}.${r.column_name}: ${r.type}${r.nullable ? ' NULL' : ''}${r.has_default ? ' DEFAULT' : ''}`).sort();
    const expected = dmmf.datamodel.models
      .flatMap((m) =>
        m.fields
          .filter((f) => f.kind !== 'object')
          .map((f) => {
            const type = sqlType(f);
            return `${table(m)}.${f.dbName ?? f.name}: ${/^[A-Z]/.test(type) ? `"${type}"` : type}${f.isRequired ? '' : ' NULL'}${f.hasDefaultValue ? ' DEFAULT' : ''}`;
          }),
      )
      .sort();
    expect(actual).toEqual(expected);
  });

  it('has the enums of the schema with the same values in the same order', async () => {
    const { rows } = await client.query<{ name: string; values: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`);
    const actual = Object.fromEntries(rows.map((r) => [r.name, r.values]));
    const expected = Object.fromEntries(dmmf.datamodel.enums.map((e) => [e.name, e.values.map((v) => v.name)]));
    expect(actual).toEqual(expected);
  });

  it('has every primary key, unique and plain index, named and ordered as Prisma does', async () => {
    const { rows } = await client.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`,
    );
    const actual = rows.map((r) => r.indexdef).sort();
    const expected = dmmf.datamodel.indexes
      .map((index) => {
        const m = models.get(index.model)!;
        const cols = index.fields.map((f) => column(m, f.name));
        const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
        const name = index.type === 'id' ? `${table(m)}_pkey` : `${table(m)}_${cols.join('_')}_${suffix}`;
        const parts = index.fields.map((f) => `${column(m, f.name)}${f.sortOrder === 'desc' ? ' DESC' : ''}`);
        return `CREATE ${index.type === 'normal' ? '' : 'UNIQUE '}INDEX ${name} ON public.${table(m)} USING btree (${parts.join(', ')})`;
      })
      .sort();
    expect(actual).toEqual(expected);
  });

  it('has every foreign key with the schema\'s delete rule', async () => {
    const { rows } = await client.query<{ name: string; def: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'f' ORDER BY conname`,
    );
    const actual = rows.map((r) => `${r.name} ${r.def}`).sort();
    const expected = dmmf.datamodel.models
      .flatMap((m) =>
        m.fields
          .filter((f) => f.kind === 'object' && f.relationFromFields && f.relationFromFields.length > 0)
          .map((f) => {
            const target = models.get(f.type)!;
            const from = f.relationFromFields!.map((x) => column(m, x));
            const onDelete = (f.relationOnDelete ?? 'Restrict').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
            const targetKey = target.fields.filter((x) => (x as { isId?: boolean }).isId).map((x) => x.dbName ?? x.name);
            return `${table(m)}_${from.join('_')}_fkey FOREIGN KEY (${from.join(', ')}) REFERENCES ${table(target)}(${targetKey.join(', ')}) ON UPDATE CASCADE ON DELETE ${onDelete}`;
          }),
      )
      .sort();
    expect(actual).toEqual(expected);
  });
});
