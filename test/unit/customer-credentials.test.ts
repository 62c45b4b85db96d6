import { describe, expect, it } from 'vitest';
import { arnAccount, LOCAL_ACCESS_KEY } from '../../local/customer-credentials.js';
import { accountMismatch } from '../../local/customer-resources.js';

describe('arnAccount', () => {
  it.each([
    ['arn:aws:iam::210987654321:role/PushrailWriter', '210987654321'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:pushrail/acme-keys-AbCdEf', '123456789012'],
    ['arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/a:b', '123456789012'],
    ['arn:aws:s3:::acme-pushrail-events', undefined],
    ['acme-pushrail-events', undefined],
    ['not:an:arn:at:all:really', undefined],
  ])('%s names account %s', (arn, account) => {
    expect(arnAccount(arn)).toBe(account);
  });
});

describe('accountMismatch', () => {
  const customer = { credentials: LOCAL_ACCESS_KEY, accountId: '123456789012' };

  it('warns when the emulator placed the customer side in another account than the ARN names', () => {
    const warning = accountMismatch('d', 'arn:aws:iam::210987654321:role/PushrailWriter', customer);
    expect(warning).toContain('account 123456789012, not 210987654321');
  });

  it('says nothing when the accounts match, or the ARN names none', () => {
    expect(accountMismatch('d', 'arn:aws:iam::123456789012:role/PushrailWriter', customer)).toBeUndefined();
    expect(accountMismatch('d', 'arn:aws:s3:::bucket', customer)).toBeUndefined();
  });
});
