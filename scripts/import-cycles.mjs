#!/usr/bin/env node
// Lists the import circles among the TypeScript files under a folder (default: src), using the
// TypeScript parser the project already has instead of another dependency. Two views:
//   all      — every static import/export-from and import() (what the layering is about);
//   runtime  — without type-only imports (what Node actually loads in a circle).
// Usage: node scripts/import-cycles.mjs [folder] [--runtime]
// Exit code 1 when a circle is found, so CI or a reviewer can run it as a check.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import console from 'node:console';
import ts from 'typescript';

const args = process.argv.slice(2);
const runtimeOnly = args.includes('--runtime');
const root = path.resolve(args.find((a) => !a.startsWith('--')) ?? 'src');

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' || entry.name === 'node_modules' ? [] : sourceFiles(full);
    return /\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolve(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec.replace(/\.js$/, ''));
  for (const candidate of [base + '.ts', base + '.tsx', base + '.mts', path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** True when the declaration brings in types only (erased at compile time). */
function typeOnly(node) {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (!clause) return false; // side-effect import
    if (clause.isTypeOnly) return true;
    if (clause.name) return false;
    const bindings = clause.namedBindings;
    return !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const clause = node.exportClause;
    return !!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
  }
  return false;
}

function importsOf(file) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = new Set();
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!(runtimeOnly && typeOnly(node))) {
        const target = resolve(file, node.moduleSpecifier.text);
        if (target) found.add(target);
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) {
        const target = resolve(file, arg.text);
        if (target) found.add(target);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found];
}

const files = sourceFiles(root);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

// Tarjan's strongly connected components: each component of more than one file is a circle
// (a knot of circles), and one shortest circle inside it is printed as the example.
let index = 0;
const stack = [];
const state = new Map();
const components = [];
function strongConnect(v) {
  state.set(v, { index, low: index, onStack: true });
  index += 1;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!state.has(w)) {
      strongConnect(w);
      state.get(v).low = Math.min(state.get(v).low, state.get(w).low);
    } else if (state.get(w).onStack) {
      state.get(v).low = Math.min(state.get(v).low, state.get(w).index);
    }
  }
  if (state.get(v).low === state.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      state.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1) components.push(component);
  }
}
for (const f of files) if (!state.has(f)) strongConnect(f);

function shortestCircle(component) {
  const inside = new Set(component);
  let best;
  for (const start of component) {
    const previous = new Map([[start, undefined]]);
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift();
      for (const w of graph.get(v) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const circle = [];
          for (let x = v; x !== undefined; x = previous.get(x)) circle.unshift(x);
          if (!best || circle.length < best.length) best = circle;
          queue.length = 0;
          break;
        }
        if (!previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
  }
  return best;
}

const rel = (f) => path.relative(root, f);
console.log(`${files.length} files under ${path.relative(process.cwd(), root) || '.'}, ${runtimeOnly ? 'runtime imports only' : 'all imports'}: ${components.length} circle(s)`);
for (const component of components.sort((a, b) => a.length - b.length)) {
  const circle = shortestCircle(component);
  console.log(`- ${component.length} files: ${[...circle, circle[0]].map(rel).join(' → ')}`);
  if (component.length > circle.length) console.log(`    knot: ${component.map(rel).sort().join(', ')}`);
}
process.exitCode = components.length > 0 ? 1 : 0;
