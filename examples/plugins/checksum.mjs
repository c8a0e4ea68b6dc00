// A Trellis node type plugin: `trellis worker --plugin examples/plugins/checksum.mjs` (and the
// same --plugin, or TRELLIS_PLUGINS, for `trellis api`, so validation knows the type).
//
// Plain JavaScript (ES module), loaded as is on Node 20+: no build step. The default export is a
// function that receives Trellis's plugin API, so this file needs no package of its own and works
// from any directory (e.g. mounted into the container). Exporting values made with
// defineNodeType works too, when the plugin can import Trellis and TypeBox itself.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';

const ALGORITHMS = ['sha256', 'sha384', 'sha512'];

/** JSON with object keys sorted, so equal values hash equally whatever their key order. */
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export default function checksumPlugin({ defineNodeType, Type, ApplicationFailure }) {
  const checksum = defineNodeType({
    type: 'checksum',
    configSchema: Type.Object(
      {
        // A string is hashed as its UTF-8 bytes; any other value as canonical JSON.
        data: Type.Unknown(),
        algorithm: Type.Optional(Type.Union(ALGORITHMS.map((a) => Type.Literal(a)))),
        encoding: Type.Optional(Type.Union([Type.Literal('hex'), Type.Literal('base64')])),
        // When set, a digest that differs fails the node with the non-retryable ChecksumMismatch.
        expect: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    literalFields: ['algorithm', 'encoding'],
    async run(config) {
      const algorithm = config.algorithm ?? 'sha256';
      const encoding = config.encoding ?? 'hex';
      const bytes = Buffer.from(typeof config.data === 'string' ? config.data : canonicalJson(config.data), 'utf8');
      const digest = createHash(algorithm).update(bytes).digest(encoding);
      if (config.expect !== undefined && config.expect !== digest) {
        throw ApplicationFailure.nonRetryable(`${algorithm} digest is ${digest}, expected ${config.expect}`, 'ChecksumMismatch');
      }
      return { algorithm, encoding, digest, bytes: bytes.length };
    },
  });
  return [checksum];
}
