import { describe, expect, it } from 'vitest';
import { auditDiff, isSensitiveField, SECRET_MARK, secretChange } from '../../lambdas/core/audit-diff.js';

/** The audit trail's changed fields (DESIGN.md "Trace, health, audit"): dotted paths, secrets redacted. */

const before = {
  id: 'acme-s3',
  type: 'S3',
  keyPrefix: 'raw/',
  eventTypes: ['order.*'],
  auth: { mode: 'ASSUME_ROLE', roleArn: 'arn:aws:iam::123456789012:role/A', externalId: 'ext-OLD-1234' },
};

describe('auditDiff', () => {
  it('lists only the changed fields, by dotted path, with old and new values', () => {
    const after = {
      ...before,
      keyPrefix: 'events/',
      auth: { ...before.auth, roleArn: 'arn:aws:iam::123456789012:role/B' },
    };
    expect(auditDiff(before, after)).toEqual([
      {
        field: 'auth.roleArn',
        from: 'arn:aws:iam::123456789012:role/A',
        to: 'arn:aws:iam::123456789012:role/B',
      },
      { field: 'keyPrefix', from: 'raw/', to: 'events/' },
    ]);
  });

  it('shows a changed externalId only as "(changed)", never its values', () => {
    const after = { ...before, auth: { ...before.auth, externalId: 'ext-NEW-5678' } };
    const changes = auditDiff(before, after);
    expect(changes).toEqual([{ field: 'auth.externalId', from: SECRET_MARK, to: SECRET_MARK }]);
    expect(JSON.stringify(changes)).not.toMatch(/ext-(OLD|NEW)/);
  });

  it('redacts raw keys too, and says null where a secret was absent', () => {
    const keys = {
      mode: 'ACCESS_KEY',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMIK7MDENG',
    };
    const changes = auditDiff(before, { ...before, auth: keys });
    expect(changes).toEqual([
      { field: 'auth.accessKeyId', from: null, to: SECRET_MARK },
      { field: 'auth.externalId', from: SECRET_MARK, to: null },
      { field: 'auth.mode', from: 'ASSUME_ROLE', to: 'ACCESS_KEY' },
      { field: 'auth.roleArn', from: 'arn:aws:iam::123456789012:role/A', to: null },
      { field: 'auth.secretAccessKey', from: null, to: SECRET_MARK },
    ]);
    expect(JSON.stringify(changes)).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(JSON.stringify(changes)).not.toContain('wJalrXUtnFEMIK7MDENG');
  });

  it('keeps a secretArn as a value: it names where the secret is, and is not one', () => {
    const a = { auth: { mode: 'ACCESS_KEY', secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:a' } };
    const b = { auth: { mode: 'ACCESS_KEY', secretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:b' } };
    expect(auditDiff(a, b)).toEqual([
      { field: 'auth.secretArn', from: a.auth.secretArn, to: b.auth.secretArn },
    ]);
  });

  it('treats an array as one field', () => {
    expect(auditDiff(before, { ...before, eventTypes: ['order.*', 'refund.*'] })).toEqual([
      { field: 'eventTypes', from: ['order.*'], to: ['order.*', 'refund.*'] },
    ]);
  });

  it('lists every field of a new destination, from null', () => {
    const changes = auditDiff(undefined, before);
    expect(changes.map((c) => c.field)).toEqual([
      'auth.externalId',
      'auth.mode',
      'auth.roleArn',
      'eventTypes',
      'id',
      'keyPrefix',
      'type',
    ]);
    expect(changes.every((c) => c.from === null)).toBe(true);
    expect(changes.find((c) => c.field === 'auth.externalId')?.to).toBe(SECRET_MARK);
  });

  it('is empty when nothing changed', () => {
    expect(auditDiff(before, structuredClone(before))).toEqual([]);
  });

  it('names the sensitive fields, and a secret the destination does not hold', () => {
    expect(isSensitiveField('auth.secretAccessKey')).toBe(true);
    expect(isSensitiveField('auth.sessionToken')).toBe(true);
    expect(isSensitiveField('auth.externalId')).toBe(true);
    expect(isSensitiveField('auth.secretArn')).toBe(false);
    expect(isSensitiveField('externalId')).toBe(false);
    expect(secretChange('auth.secretAccessKey')).toEqual({
      field: 'auth.secretAccessKey',
      from: SECRET_MARK,
      to: SECRET_MARK,
    });
  });
});
