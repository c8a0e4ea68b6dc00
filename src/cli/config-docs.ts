import fs from 'node:fs/promises';
import path from 'node:path';
import { configurationMarkdown } from '../config/docs';

/** Where the generated settings table lives; test/config/docs.test.ts fails when it is out of date. */
export const CONFIGURATION_DOC = path.join(__dirname, '..', '..', 'docs', 'configuration.md');

if (require.main === module) {
  fs.writeFile(CONFIGURATION_DOC, configurationMarkdown()).then(
    () => console.log(`wrote ${path.relative(process.cwd(), CONFIGURATION_DOC)}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
