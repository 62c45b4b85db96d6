import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { checkAddress } from '../../lambdas/core/address-filter.js';
import { BACKOFF, decideRetry } from '../../lambdas/core/backoff.js';
import { classifyFailure } from '../../lambdas/core/failure-classification.js';
import { parseRetryAfter } from '../../lambdas/core/retry-after.js';
import {
  activeSecrets,
  generateSigningSecret,
  rotateSecrets,
  signingHeaders,
  webhookId,
} from '../../lambdas/core/webhook-signing.js';
import { DestinationSchema, failureTable } from '../../lambdas/destinations/index.js';
import { classifyResponse, targetOf } from '../../lambdas/destinations/webhook/responses.js';

const NOW = new Date('2026-12-01T12:00:00Z');

describe('webhook signing (Standard Webhooks)', () => {
  // A vector from the Standard Webhooks spec's reference libraries.
  const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const SPEC_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const SPEC_TS = 1614265330;
  const SPEC_BODY = '{"test": 2432232314}';

  it('produces the spec vector, which the standardwebhooks verifier accepts', () => {
    const headers = signingHeaders([SPEC_SECRET], SPEC_ID, SPEC_TS, SPEC_BODY);
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    const signer = new Webhook(SPEC_SECRET);
    expect(signer.sign(SPEC_ID, new Date(SPEC_TS * 1000), SPEC_BODY)).toBe(headers['webhook-signature']);
  });

  it('signs so that the verifier accepts, with generated secrets and now as timestamp', () => {
    const secret = generateSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = JSON.stringify({ events: [{ eventId: 'evt_1' }] });
    const ts = Math.floor(Date.now() / 1000);
    const headers = signingHeaders([secret], webhookId(['evt_1']), ts, body);
    expect(new Webhook(secret).verify(body, headers)).toEqual({ events: [{ eventId: 'evt_1' }] });
    expect(() => new Webhook(generateSigningSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
  });

  it('during a rotation signs with both secrets for 24 h, so receivers with either verify', () => {
    const old = generateSigningSecret();
    const next = generateSigningSecret();
    const stored = rotateSecrets({ current: old }, next, NOW);
    expect(activeSecrets(stored, NOW)).toEqual([next, old]);
    expect(activeSecrets(stored, new Date(NOW.getTime() + 24 * 3600_000 + 1))).toEqual([next]);
    const body = '{"events":[]}';
    const headers = signingHeaders(activeSecrets(stored, NOW), 'msg_x', Math.floor(Date.now() / 1000), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [old, next])
      expect(new Webhook(secret).verify(body, headers)).toEqual({ events: [] });
  });

  it('gives a batch the same webhook-id whatever the order of its events, and another batch another', () => {
    expect(webhookId(['evt_a', 'evt_b'])).toBe(webhookId(['evt_b', 'evt_a']));
    expect(webhookId(['evt_a'])).not.toBe(webhookId(['evt_a', 'evt_b']));
    expect(webhookId(['evt_a'])).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
  });
});

describe('webhook response classification', () => {
  const table = failureTable('WEBHOOK');
  const cases: [number, 'ok' | 'transient' | 'permanent', string?][] = [
    [200, 'ok'],
    [202, 'ok'],
    [204, 'ok'],
    [299, 'ok'],
    [301, 'permanent', 'HTTP3xx'],
    [302, 'permanent', 'HTTP3xx'],
    [307, 'permanent', 'HTTP3xx'],
    [400, 'permanent', 'HTTP4xx'],
    [401, 'permanent', 'HTTP4xx'],
    [403, 'permanent', 'HTTP4xx'],
    [404, 'permanent', 'HTTP4xx'],
    [408, 'transient', 'HTTP408'],
    [410, 'permanent', 'HTTP410'],
    [413, 'permanent', 'HTTP4xx'],
    [422, 'permanent', 'HTTP4xx'],
    [425, 'transient', 'HTTP425'],
    [429, 'transient', 'HTTP429'],
    [500, 'transient', 'HTTP5xx'],
    [502, 'transient', 'HTTP5xx'],
    [503, 'transient', 'HTTP503'],
    [504, 'transient', 'HTTP5xx'],
  ];
  it.each(cases)('HTTP %i is %s', (status, expected, code) => {
    const outcome = classifyResponse(status, undefined, '{"error":"nope"}', 'https://h/p', NOW);
    if (expected === 'ok') return expect(outcome.ok).toBe(true);
    if (outcome.ok) throw new Error('expected a failure');
    expect(outcome.failure).toMatchObject({ failureClass: expected, code, httpStatus: status });
    // The kind's table (and so the README's) agrees with what the sender decides.
    expect(table[expected === 'transient' ? 'transient' : 'permanent']).toContain(code);
  });

  it('counts a 200 with an error body as success', () => {
    expect(classifyResponse(200, undefined, '{"ok":false,"error":"bad"}', 'https://h/p', NOW).ok).toBe(true);
  });

  it('honours Retry-After on 429 and 503 only', () => {
    for (const status of [429, 503]) {
      const outcome = classifyResponse(status, '120', '', 'https://h/p', NOW);
      expect(!outcome.ok && outcome.failure.retryAfterSeconds).toBe(120);
    }
    const other = classifyResponse(500, '120', '', 'https://h/p', NOW);
    expect(!other.ok && other.failure.retryAfterSeconds).toBeUndefined();
  });

  it('classifies errors before an answer: refused address permanent, timeouts and network transient', () => {
    const err = (name: string, code?: string) =>
      Object.assign(new Error('x'), { name, ...(code ? { code } : {}) });
    expect(classifyFailure('WEBHOOK', err('AddressNotAllowed')).failureClass).toBe('permanent');
    expect(classifyFailure('WEBHOOK', err('InsecureUrl')).failureClass).toBe('permanent');
    expect(classifyFailure('WEBHOOK', err('WebhookTimeout')).failureClass).toBe('transient');
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])
      expect(classifyFailure('WEBHOOK', err('Error', code)).failureClass).toBe('transient');
  });

  it('shows the URL without its query string', () => {
    expect(targetOf('https://hooks.example.com:8443/in/x?token=secret#f')).toBe(
      'https://hooks.example.com:8443/in/x',
    );
  });

  it('keeps a secret out of the reason it stores', () => {
    const outcome = classifyResponse(401, undefined, 'bad key AKIAABCDEFGHIJKLMNOP', 'https://h/p', NOW);
    expect(!outcome.ok && outcome.failure.message).not.toContain('AKIAABCDEFGHIJKLMNOP');
  });
});

describe('Retry-After', () => {
  it('reads seconds', () => {
    expect(parseRetryAfter('0', NOW, 3600)).toBe(0);
    expect(parseRetryAfter(' 90 ', NOW, 3600)).toBe(90);
  });
  it('reads an HTTP-date, relative to now, never negative', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 12:02:00 GMT', NOW, 3600)).toBe(120);
    expect(parseRetryAfter('Tue, 01 Dec 2026 11:00:00 GMT', NOW, 3600)).toBe(0);
  });
  it('caps what a receiver asks for', () => {
    expect(parseRetryAfter('999999999', NOW, 3600)).toBe(3600);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', NOW, 3600)).toBe(3600);
  });
  it('ignores junk, fractions and negatives', () => {
    for (const v of [undefined, '', 'soon', '1.5', '-5', 'Tue, 99 Foo 2026 GMT'])
      expect(parseRetryAfter(v, NOW, 3600)).toBeUndefined();
  });
  it('makes the backoff wait at least that long, within the 12 h cap and the 24 h horizon', () => {
    const base = { firstAttemptAt: NOW, now: NOW, attempt: 1, random: () => 0 };
    expect(decideRetry({ ...base, retryAfterSeconds: 600 })).toEqual({ action: 'retry', delaySeconds: 600 });
    expect(decideRetry({ ...base, retryAfterSeconds: 10 ** 9 })).toEqual({
      action: 'retry',
      delaySeconds: BACKOFF.maxDelaySeconds,
    });
    const late = { ...base, now: new Date(NOW.getTime() + (24 * 3600 - 100) * 1000) };
    expect(decideRetry({ ...late, retryAfterSeconds: 3600 })).toEqual({ action: 'retry', delaySeconds: 100 });
    const past = { ...base, now: new Date(NOW.getTime() + 24 * 3600 * 1000) };
    expect(decideRetry({ ...past, retryAfterSeconds: 60 }).action).toBe('dead-letter');
  });
});

describe('address filter', () => {
  const blocked: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'uniqueLocal'], // the IPv6 instance metadata address
    ['ff02::1', 'multicast'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:100.64.0.1', 'carrierGradeNat'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'], // NAT64 of 169.254.169.254
    ['64:ff9b::7f00:1', 'rfc6052'], // NAT64 of 127.0.0.1
    ['64:ff9b::808:808', 'rfc6052'], // NAT64 of a public address: what it reaches is the gateway's call
    ['64:ff9b:1::1', 'rfc6052'],
    ['2002:7f00:1::1', '6to4'],
    ['2001::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
  ];
  it.each(blocked)('refuses %s (%s)', (address, range) => {
    const verdict = checkAddress(address);
    expect(verdict).toMatchObject({ allowed: false, range });
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:93.184.216.34',
  ])('allows the public address %s', (address) => expect(checkAddress(address)).toEqual({ allowed: true }));

  it('allows loopback (and only loopback) when the local runtime says so', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
      expect(checkAddress(a, { allowLoopback: true }).allowed).toBe(true);
    for (const a of ['169.254.169.254', '10.0.0.1', '64:ff9b::7f00:1'])
      expect(checkAddress(a, { allowLoopback: true }).allowed).toBe(false);
  });

  it('refuses what is not a canonical IP literal', () => {
    for (const a of ['0x7f.1', '2130706433', 'localhost', '127.1'])
      expect(checkAddress(a).allowed).toBe(false);
  });
});

describe('WEBHOOK destination schema', () => {
  const base = {
    type: 'WEBHOOK',
    id: 'acme-hook',
    name: 'Acme webhook',
    customerExternalId: 'acct_acme',
    url: 'https://hooks.acme.example/pushrail?token=t',
  };
  const parse = (extra: Record<string, unknown>) => DestinationSchema.safeParse({ ...base, ...extra });
  const messages = (extra: Record<string, unknown>) => {
    const r = parse(extra);
    return r.success ? [] : r.error.issues.map((i) => i.message);
  };

  it('fills the defaults', () => {
    const r = parse({});
    expect(r.success && r.data).toMatchObject({
      method: 'POST',
      headers: {},
      maxEvents: 100,
      batchSizeKb: 256,
      flushIntervalSec: 1,
      timeoutSec: 10,
      maxConcurrency: 2,
    });
  });

  it.each([
    ['maxEvents', 0, 'maxEvents must be between 1 and 1000 (received 0)'],
    ['maxEvents', 1001, 'maxEvents must be between 1 and 1000 (received 1001)'],
    ['batchSizeKb', 0, 'batchSizeKb must be between 1 and 1024 KiB (received 0)'],
    ['batchSizeKb', 1025, 'batchSizeKb must be between 1 and 1024 KiB (received 1025)'],
    ['flushIntervalSec', -1, 'flushIntervalSec must be between 0 and 300 seconds (received -1)'],
    ['flushIntervalSec', 301, 'flushIntervalSec must be between 0 and 300 seconds (received 301)'],
    ['timeoutSec', 0, 'timeoutSec must be between 1 and 30 seconds (received 0)'],
    ['timeoutSec', 31, 'timeoutSec must be between 1 and 30 seconds (received 31)'],
    ['maxConcurrency', 1, 'maxConcurrency must be between 2 and 100 (received 1)'],
    ['maxConcurrency', 101, 'maxConcurrency must be between 2 and 100 (received 101)'],
  ])('rejects %s = %s naming the field and the range', (field, value, message) => {
    expect(messages({ [field]: value })).toContain(message);
  });

  it('accepts https anywhere, plain http to loopback only', () => {
    expect(parse({ url: 'http://127.0.0.1:8080/in' }).success).toBe(true);
    expect(parse({ url: 'http://localhost:8080/in' }).success).toBe(true);
    expect(parse({ url: 'http://[::1]:8080/in' }).success).toBe(true);
    expect(messages({ url: 'http://hooks.acme.example/in' })[0]).toMatch(/url must be https:\/\//);
    expect(messages({ url: 'ftp://x/' })[0]).toMatch(/url must be https/);
    expect(messages({ url: 'not a url' })[0]).toMatch(/absolute URL/);
    expect(messages({ url: 'https://user:pw@hooks.acme.example/' })[0]).toMatch(/user or password/);
  });

  it('takes POST or PUT, static headers, and API_KEY auth by secretArn', () => {
    const r = parse({
      method: 'PUT',
      headers: { 'X-Tenant': 'acme' },
      auth: {
        mode: 'API_KEY',
        header: 'X-Api-Key',
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-key',
      },
    });
    expect(r.success).toBe(true);
    expect(messages({ method: 'GET' })).toContain('method must be "POST" or "PUT"');
  });

  it('refuses headers Pushrail sets or that carry secrets', () => {
    expect(messages({ headers: { Authorization: 'Bearer x' } })[0]).toMatch(/secrets go in auth/);
    expect(messages({ headers: { 'webhook-signature': 'v1,x' } })[0]).toMatch(/set by Pushrail/);
    expect(
      messages({
        auth: {
          mode: 'API_KEY',
          header: 'Content-Type',
          secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k',
        },
      })[0],
    ).toMatch(/auth.header/);
  });
});
