#!/usr/bin/env node
// `npx mqtt-auth <command>`: the operator's command-line program, run from the TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('../cli/mqtt-auth.ts');
