#!/usr/bin/env node
'use strict';
/**
 * `npm run package`: packages every stage in infra/stages/ (or the stages named on the command
 * line) offline, each into .package/<stage>/. No AWS account or credentials are needed.
 * Exits non-zero, naming the stage, when one fails.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stages = process.argv.slice(2).length
  ? process.argv.slice(2)
  : fs.readdirSync(path.join(root, 'infra', 'stages')).filter((f) => f.endsWith('.yml')).map((f) => f.slice(0, -4)).sort();
const cli = path.join(root, 'node_modules', 'serverless', 'bin', 'serverless.js');

for (const stage of stages) {
  const out = path.join('.package', stage);
  process.stdout.write(`package: ${stage} → ${out}\n`);
  const r = spawnSync(process.execPath, [cli, 'package', '--stage', stage, '--package', out], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`package: stage ${stage} failed\n`);
    process.exit(r.status ?? 1);
  }
}
