import test from 'ava';
import {plural} from '../lib/cli/text.js';

test('plural gives the singular for one and the plural for zero and many', (t) => {
  t.is(plural(1, 'attempt'), '1 attempt');
  t.is(plural(0, 'attempt'), '0 attempts');
  t.is(plural(3, 'entry', 'entries'), '3 entries');
});
