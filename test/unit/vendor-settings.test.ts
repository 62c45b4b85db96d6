import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { OwnedSecrets } from '../../lambdas/adapters/owned-secrets.js';
import { parseVendorSettingsText } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { ownedSecretNamePrefix } from '../../lib/runtime-resources.js';

/** What `cdk deploy` reads of pushrail.config.json (bin/pushrail.ts): the vendor-level settings. */
describe('parseVendorSettingsText', () => {
  const text = (value: unknown) => JSON.stringify(value);

  it('reads vendor and retentionDays (default 30), and counts the destinations without validating them', () => {
    expect(
      parseVendorSettingsText(text({ vendor: 'acme', destinations: [{ id: 'x', type: 'NOPE' }, {}] })),
    ).toEqual({ vendor: 'acme', retentionDays: 30, destinationCount: 2 });
    expect(parseVendorSettingsText(text({ vendor: 'acme', retentionDays: 7 }))).toEqual({
      vendor: 'acme',
      retentionDays: 7,
      destinationCount: 0,
    });
  });

  it('refuses an out-of-range vendor setting, naming the field and the range', () => {
    const error = (() => {
      try {
        parseVendorSettingsText(text({ vendor: 'acme', retentionDays: 900 }), 'my.json');
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('my.json');
    expect(error.message).toContain('retentionDays');
    expect(error.message).toContain('between 1 and 365');
  });

  it('refuses unknown top-level fields, destinations that are not a list, and bad JSON', () => {
    expect(() => parseVendorSettingsText(text({ vendor: 'acme', retentiondays: 3 }))).toThrow(ConfigError);
    expect(() => parseVendorSettingsText(text({ vendor: 'acme', destinations: {} }))).toThrow(
      /destinations must be a list/,
    );
    expect(() => parseVendorSettingsText('{')).toThrow(/not valid JSON/);
  });

  it('still refuses raw access keys anywhere in the file, by path and never by value', () => {
    const secret = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY01';
    const attempt = () =>
      parseVendorSettingsText(
        text({ vendor: 'acme', destinations: [{ auth: { mode: 'ACCESS_KEY', secretAccessKey: secret } }] }),
      );
    expect(attempt).toThrow(/destinations\[0\]\.auth\.secretAccessKey/);
    expect(attempt).not.toThrow(new RegExp(secret));
  });
});

describe('the owned secrets IAM scope', () => {
  it('is the prefix of the names the management API stores secrets under', () => {
    const secrets = new OwnedSecrets(new SecretsManagerClient({ region: 'us-east-1' }), 'Pushrail');
    expect(secrets.nameOf('acme-s3-archive').startsWith(ownedSecretNamePrefix('Pushrail'))).toBe(true);
    expect(ownedSecretNamePrefix('Pushrail')).toBe('pushrail/Pushrail/');
  });
});
