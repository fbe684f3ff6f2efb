// Validates a /pyroscope/render or /pyroscope/render-diff JSON answer
// against the Grafana Pyroscope UI's zod schema FlamebearerProfileSchema
// (npm @pyroscope/models@0.4.7), as the UI parses it.
//
//   node validate-render.mjs FILE.json [--mode=profile|render] [--strict]
//                                      [--modules=DIR]
//
// --mode=render (default profile) parses as the UI's renderSingle():
//   FlamebearerProfileSchema.merge({timeline, annotations})
//                           .merge({telemetry})
// --mode=profile parses as renderDiff(): FlamebearerProfileSchema alone.
// --strict adds what zod does not check: levels in groups of 4 (single)
// or 7 (double), name indexes in range, numTicks = the root total,
// maxSelf = the largest self, leftTicks + rightTicks = numTicks (double).
// --modules (or $PYRO_UI_DIR) is the npm prefix holding node_modules
// (default: build/ui of the checkout).
//
// Exit 0: valid.  Exit 1: invalid, the issues on stdout.  Exit 2: usage
// or a missing module.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let file;
let mode = 'profile';
let strict = false;
let modules = process.env.PYRO_UI_DIR || path.resolve(here, '../../build/ui');

for (const a of process.argv.slice(2)) {
  if (a.startsWith('--mode=')) mode = a.slice(7);
  else if (a === '--strict') strict = true;
  else if (a.startsWith('--modules=')) modules = path.resolve(a.slice(10));
  else if (!file) file = a;
  else {
    console.error(`unexpected argument ${a}`);
    process.exit(2);
  }
}
if (!file || !['profile', 'render'].includes(mode)) {
  console.error('usage: validate-render.mjs FILE.json [--mode=profile|render] [--strict] [--modules=DIR]');
  process.exit(2);
}

let models, z;
try {
  // the CommonJS builds, resolved from the npm prefix (one zod instance)
  const require = createRequire(path.join(modules, 'package.json'));
  models = require('@pyroscope/models');
  ({ z } = require('zod'));
} catch (e) {
  console.error(`cannot load @pyroscope/models and zod from ${modules}: ${e.message}`);
  process.exit(2);
}

const { FlamebearerProfileSchema } = models;
if (!FlamebearerProfileSchema) {
  console.error('@pyroscope/models exports no FlamebearerProfileSchema');
  process.exit(2);
}

// UI-internal (public/app/models), re-declared as the UI has them.
const TimelineSchema = z.object({
  startTime: z.number(),
  samples: z.array(z.number()),
  durationDelta: z.number(),
});
const AnnotationSchema = z.object({
  content: z.string(),
  timestamp: z.number(),
});

const schema = mode === 'render'
  ? FlamebearerProfileSchema
      .merge(z.object({ timeline: TimelineSchema, annotations: z.array(AnnotationSchema).default([]) }))
      .merge(z.object({ telemetry: z.object({}).passthrough().optional() }))
  : FlamebearerProfileSchema;

let input;
try {
  input = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log(`not JSON: ${e.message}`);
  process.exit(1);
}

const res = schema.safeParse(input);
if (!res.success) {
  console.log(JSON.stringify(res.error.issues, null, 2));
  process.exit(1);
}

const problems = [];
if (strict) {
  const p = res.data;
  const fb = p.flamebearer;
  const dbl = p.metadata.format === 'double';
  const step = dbl ? 7 : 4;
  const nameAt = step - 1;
  let maxSelf = 0;
  fb.levels.forEach((lvl, i) => {
    if (lvl.length % step !== 0) {
      problems.push(`level ${i}: ${lvl.length} values, not a multiple of ${step}`);
      return;
    }
    for (let j = 0; j < lvl.length; j += step) {
      const n = lvl[j + nameAt];
      if (!Number.isInteger(n) || n < 0 || n >= fb.names.length) {
        problems.push(`level ${i} node ${j / step}: name index ${n} out of range 0..${fb.names.length - 1}`);
      }
      for (let k = 0; k < nameAt; k++) {
        if (!Number.isInteger(lvl[j + k]) || lvl[j + k] < 0) {
          problems.push(`level ${i} node ${j / step}: bad value ${lvl[j + k]} at ${k}`);
        }
      }
      maxSelf = Math.max(maxSelf, lvl[j + 2], dbl ? lvl[j + 5] : 0);
    }
  });
  const root = fb.levels[0] || [];
  const rootTotal = root.length >= step ? (dbl ? root[1] + root[4] : root[1]) : 0;
  if (fb.levels.length && root.length !== step) {
    problems.push(`level 0 has ${root.length / step} nodes, not one root`);
  }
  if (fb.numTicks !== rootTotal) {
    problems.push(`numTicks ${fb.numTicks} != root total ${rootTotal}`);
  }
  if (fb.maxSelf !== maxSelf) {
    problems.push(`maxSelf ${fb.maxSelf} != the largest self ${maxSelf}`);
  }
  if (dbl) {
    if (typeof p.leftTicks !== 'number' || typeof p.rightTicks !== 'number') {
      problems.push('double without leftTicks/rightTicks');
    } else {
      if (p.leftTicks + p.rightTicks !== fb.numTicks) {
        problems.push(`leftTicks ${p.leftTicks} + rightTicks ${p.rightTicks} != numTicks ${fb.numTicks}`);
      }
      if (root.length >= step && (root[1] !== p.leftTicks || root[4] !== p.rightTicks)) {
        problems.push(`root totals ${root[1]}/${root[4]} != leftTicks/rightTicks ${p.leftTicks}/${p.rightTicks}`);
      }
    }
  }
}

if (problems.length) {
  console.log(problems.join('\n'));
  process.exit(1);
}
process.exit(0);
