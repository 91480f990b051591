#!/usr/bin/env node
import {main} from './index.js';

const code = await main(process.argv.slice(2));
// The work is over: exit once stdout and stderr are flushed, even if a socket is still open (an
// abandoned long-poll whose abort a garbage collection lost, or an HTTP keep-alive connection).
process.exitCode = code;
let pending = 2;
const done = (): void => {
  if (--pending === 0) process.exit(code);
};
process.stdout.write('', done);
process.stderr.write('', done);
