// The client's copy of the wire contract is jwtd's: compared with the
// contract file that jwtd-core's test keeps equal to what the Rust build
// says (a drift on either side fails one of the two tests).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { NO_CREDENTIALS, REVOCATION_ITEM, REVOCATION_KINDS, STALE } from '../lib/wire.js';
import { RevocationIndex } from '../lib/revocations.js';

const contract = JSON.parse(
  readFileSync(new URL('../../../tests/wire/contract.json', import.meta.url), 'utf8'),
);

test('the answers of a turned-away request are jwtd\'s', () => {
  assert.deepEqual({ ...NO_CREDENTIALS }, contract.no_credentials);
  assert.deepEqual({ ...STALE }, contract.stale);
});

test('the revocation item and kinds are jwtd\'s, and every kind is enforced', () => {
  assert.deepEqual([...REVOCATION_ITEM], contract.revocation_item);
  assert.deepEqual([...REVOCATION_KINDS], contract.revocation_kinds);
  const index = new RevocationIndex();
  for (const kind of contract.revocation_kinds) {
    const item = Object.fromEntries(contract.revocation_item.map((f) => [f, f.endsWith('_at') ? 1 : 'x']));
    assert.equal(index.insert({ ...item, kind }), true, `kind ${kind} is not enforced`);
  }
});
