import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../core/errors.js';
import { parseSocketMode } from './docker.js';

describe('docker-plugin --socket-mode', () => {
  it("takes octal modes that keep the owner's read and write", () => {
    assert.equal(parseSocketMode('0660'), 0o660);
    assert.equal(parseSocketMode('600'), 0o600);
    assert.throws(
      () => parseSocketMode('0960'),
      (e: unknown) => e instanceof ConfigError && /not an octal mode/.test(e.message),
    );
    assert.throws(() => parseSocketMode('rw-rw----'), ConfigError);
    assert.throws(() => parseSocketMode('0060'), /keeps root from using the socket/);
  });
});
