import { Type } from '@sinclair/typebox';
import { DateTime } from '../schemas';
import { SECRET_NAME_PATTERN } from '../../domain/secrets';
import { MAX_SECRET_BYTES } from '../../services/secrets';

/** The request and response shapes of /secrets (routes/secrets.ts). */
export const SECRET_TAGS = ['secrets'];

export const NameParams = Type.Object(
  {
    name: Type.String({
      pattern: SECRET_NAME_PATTERN,
      description: 'Referenced in definitions as {{ secrets.NAME }}: a letter or _, then letters, digits or _ (at most 128)',
    }),
  },
  { additionalProperties: false },
);
export const ValueBody = Type.Object(
  { value: Type.String({ minLength: 1, maxLength: MAX_SECRET_BYTES, description: 'The secret; write-only, never returned' }) },
  { additionalProperties: false },
);
export const SecretSummary = Type.Object({ name: Type.String(), version: Type.Integer(), createdAt: DateTime, updatedAt: DateTime });
export const SecretList = Type.Object({ items: Type.Array(SecretSummary) });
export const NoContent = Type.Null();
