/** Static credentials, as STS hands them out or as an ACCESS_KEY secret holds them. */
export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * Client settings for talking to the local emulator. Every client of the local runtime is built from
 * this, so the endpoint and region are never picked up by accident from a developer's real profile.
 */
export interface EmulatorTarget {
  readonly endpoint: string;
  readonly region: string;
  /** Absent: the SDK's default chain (the dummy keys `npm start` puts in the environment). */
  readonly credentials?: StaticCredentials;
}

export function clientConfig(target: EmulatorTarget): {
  endpoint: string;
  region: string;
  credentials?: StaticCredentials;
} {
  return {
    endpoint: target.endpoint,
    region: target.region,
    ...(target.credentials ? { credentials: target.credentials } : {}),
  };
}

/** S3 needs path-style URLs: the emulator answers on one host, not on `<bucket>.<host>`. */
export function s3ClientConfig(target: EmulatorTarget): ReturnType<typeof clientConfig> & {
  forcePathStyle: true;
} {
  return { ...clientConfig(target), forcePathStyle: true };
}
