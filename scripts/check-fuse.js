#!/usr/bin/env node
// Runs before node-gyp: stop with one clear line when libfuse3's headers are missing,
// instead of a page of compiler errors.
'use strict';
const { execFileSync } = require('node:child_process');
try {
  execFileSync('pkg-config', ['--exists', 'fuse3'], { stdio: 'ignore' });
} catch {
  console.error('procfuse: libfuse3 headers not found; install them first: apt-get install -y libfuse3-dev fuse3 pkg-config');
  process.exit(1);
}
