/** Keyset position in a list ordered by (createdAt DESC, id DESC); opaque to clients. */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url');
}

/** The cursor `value` encodes, or undefined when it is not one encodeCursor made (api/schemas.ts turns that into a 400). */
export function parseCursor(value: string): Cursor | undefined {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(createdAt);
    if (typeof id !== 'string' || Number.isNaN(date.getTime())) return undefined;
    return { createdAt: date, id };
  } catch {
    return undefined;
  }
}

/** Prisma `where` fragment for rows strictly after the cursor in (createdAt DESC, id DESC) order. */
export function afterCursor(cursor: Cursor | undefined) {
  if (!cursor) return {};
  return {
    OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }],
  };
}

/** Takes `limit + 1` rows' worth of result and splits it into the page and the next cursor. */
export function page<T extends { createdAt: Date; id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
