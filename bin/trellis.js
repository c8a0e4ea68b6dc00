#!/usr/bin/env node
/* global require, __dirname, process */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS launcher, run by node as is */
'use strict';

// The compiled CLI when the package was built (npm run build), else the TypeScript source through tsx.
const fs = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, '..', 'dist', 'cli', 'trellis.js');
let entry;
if (fs.existsSync(built)) {
  entry = require(built);
} else {
  require('tsx/cjs');
  entry = require('../src/cli/trellis.ts');
}
entry.cli(process.argv.slice(2));
