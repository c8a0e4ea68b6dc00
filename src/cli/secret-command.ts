import { parseArgs } from 'node:util';
import type { TrellisConfig } from '../config';
import { createDb, type Db } from '../db/client';
import { isSecretName } from '../domain/secrets';
import { generateKeyText } from '../crypto/keyring';
import { MASTER_KEY_ENV, MAX_SECRET_BYTES, deleteSecret, listSecrets, masterKeyring, putSecret, rotateMasterKey } from '../services/secrets';

export const SECRET_USAGE = `  secret set NAME --tenant T [--value V]  store a secret (the value is read from stdin without --value)
  secret list --tenant T                  list a tenant's secrets (names, versions, dates; never values)
  secret delete NAME --tenant T           delete a secret
  secret rotate-master-key                re-wrap every secret under ${MASTER_KEY_ENV} (old keys in TRELLIS_PREVIOUS_MASTER_KEYS)
  secret generate-key                     print a new random key for ${MASTER_KEY_ENV} or TRELLIS_PAYLOAD_KEY`;

interface Io {
  out(line: string): void;
  usage(message: string): Error;
  databaseUrl(): string;
  stdin?: () => Promise<string>;
}

/** `trellis secret ...`: the same store the API writes, for operators and scripts; the keys come from the validated `config`. */
export async function runSecret(args: string[], config: TrellisConfig, io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { tenant: { type: 'string' }, value: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [action, name, ...extra] = positionals;
  if (extra.length > 0) throw io.usage(`unexpected argument "${extra[0]}"`);
  if (action === 'generate-key') {
    io.out(generateKeyText());
    return;
  }
  const needsName = action === 'set' || action === 'delete';
  if (!['set', 'list', 'delete', 'rotate-master-key'].includes(action ?? '')) throw io.usage('expected: trellis secret set|list|delete|rotate-master-key');
  if (needsName && (!name || !isSecretName(name))) throw io.usage('a secret NAME is required: a letter or _, then letters, digits or _ (at most 128)');
  if (!needsName && name) throw io.usage(`unexpected argument "${name}"`);
  if (action !== 'rotate-master-key' && !values.tenant) throw io.usage('--tenant NAME is required');

  const db = createDb(io.databaseUrl(), { max: 1 });
  try {
    if (action === 'rotate-master-key') {
      const keyring = masterKeyring(config);
      if (!keyring) throw io.usage(`${MASTER_KEY_ENV} must hold the new master key (and TRELLIS_PREVIOUS_MASTER_KEYS the old ones)`);
      const { rewrapped, current } = await rotateMasterKey(db, keyring);
      io.out(`re-wrapped ${rewrapped} secret(s); ${current} secret(s) are under master key ${keyring.current.id}`);
      return;
    }
    const tenantId = await tenantIdOf(db, values.tenant!);
    if (action === 'list') {
      for (const s of await listSecrets(db, tenantId)) io.out(`${s.name}\tv${s.version}\t${s.updatedAt.toISOString()}`);
      return;
    }
    if (action === 'delete') {
      await deleteSecret(db, tenantId, name!);
      io.out(`deleted secret ${name}`);
      return;
    }
    const keyring = masterKeyring(config);
    if (!keyring) throw io.usage(`${MASTER_KEY_ENV} is not set; secrets are stored encrypted under it (create one with: trellis secret generate-key)`);
    const value = values.value ?? (await (io.stdin ?? readStdin)()).replace(/\r?\n$/, '');
    if (value === '') throw io.usage('the secret value is empty (give --value or pipe it on stdin)');
    if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw io.usage(`the secret value exceeds ${MAX_SECRET_BYTES} bytes`);
    const saved = await putSecret(db, keyring, tenantId, name!, value);
    io.out(`stored secret ${saved.name} (version ${saved.version}) for tenant "${values.tenant}"`);
  } finally {
    await db.$disconnect();
  }
}

async function tenantIdOf(db: Db, tenant: string): Promise<string> {
  const row = await db.tenant.findUnique({ where: { name: tenant }, select: { id: true } });
  if (!row) throw new Error(`unknown tenant "${tenant}" (tenants are created by: trellis apikey create --tenant NAME)`);
  return row.id;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_BYTES + 2) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
