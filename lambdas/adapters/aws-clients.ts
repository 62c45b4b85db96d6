/**
 * Shared SDK client settings. The SDK reads AWS_REGION and AWS_ENDPOINT_URL itself; the one thing it
 * cannot infer is that an emulator endpoint (moto, LocalStack) needs path-style S3 addressing.
 */
export function s3ClientOptions(): { forcePathStyle: boolean } {
  return { forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) };
}
