import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { type AddressPolicy, checkAddress } from '../core/address-filter.js';

/**
 * The webhook sender's HTTP client: node:https (node:http on the local runtime) with one keep-alive
 * Agent per destination, and the SSRF check at dial time.
 *
 * Why node:https and not fetch/undici: the Agent's `lookup` is what the socket itself calls to find the
 * address it then connects to, so the address checked is the address dialled — a DNS answer that
 * changes between a check and the connect (rebinding) cannot slip through, because there is no
 * separate check. fetch's undici would need its own Agent with a connect hook, and undici is not an
 * importable module of Node 20 without adding the package to every bundle; node:https also never
 * follows redirects, and keeps one small pool per destination with `keepAlive`.
 */

/** The dialled address is not one a webhook may reach (core/address-filter.ts). Permanent. */
export class AddressNotAllowedError extends Error {
  public readonly range: string;

  public constructor(host: string, reason: string, range: string) {
    super(`${host}: ${reason}`);
    this.name = 'AddressNotAllowed';
    this.range = range;
  }
}

/** Plain http outside the local runtime. Permanent. */
export class InsecureUrlError extends Error {
  public constructor(target: string) {
    super(`${target}: plain http is allowed only to loopback on the local runtime; use https`);
    this.name = 'InsecureUrl';
  }
}

/** No complete answer within the destination's timeoutSec. Transient. */
export class WebhookTimeoutError extends Error {
  public constructor(target: string, timeoutMs: number) {
    super(`${target}: no answer within ${timeoutMs / 1000} s`);
    this.name = 'WebhookTimeout';
  }
}

/** A resolver with dns.lookup's shape (`all: true`), injectable so tests can answer what they like. */
export type Resolver = (
  hostname: string,
  options: { all: true; family?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) =>
  dnsLookup(hostname, options, (error, addresses) => callback(error, addresses as LookupAddress[]));

/**
 * A `lookup` for an Agent that refuses a name if any address it resolves to is not allowed: called
 * by the socket for every connection, so every connection is checked on what it will dial.
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return ((
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (...args: unknown[]) => void,
  ) => {
    resolve(
      hostname,
      { all: true, ...(options.family ? { family: options.family } : {}) },
      (error, addresses) => {
        if (error) return callback(error);
        if (addresses.length === 0) {
          return callback(
            Object.assign(new Error(`${hostname} resolved to no address`), { code: 'ENOTFOUND' }),
          );
        }
        for (const { address } of addresses) {
          const verdict = checkAddress(address, policy);
          if (!verdict.allowed)
            return callback(new AddressNotAllowedError(hostname, verdict.reason, verdict.range));
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0] as LookupAddress;
        return callback(null, first.address, first.family);
      },
    );
  }) as LookupFunction;
}

export interface WebhookHttpOptions extends AddressPolicy {
  /** The local runtime alone: plain http (to loopback: the schema allows no other http URL). */
  readonly allowHttp?: boolean;
  readonly resolve?: Resolver;
  /** How much of a response body is kept; the rest is read up to `drainBytes` and dropped. */
  readonly keepBytes?: number;
  /** A response body longer than this is not read further: the socket is closed instead. */
  readonly drainBytes?: number;
}

export interface WebhookHttpRequest {
  readonly url: URL;
  readonly method: 'POST' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface WebhookHttpResponse {
  readonly status: number;
  readonly retryAfter?: string;
  /** The first `keepBytes` of the body, as UTF-8 (not yet sanitized). */
  readonly body: string;
}

/** One destination's HTTP client: its own keep-alive pool, closed with `destroy`. */
export class WebhookHttp {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;

  public constructor(private readonly options: WebhookHttpOptions = {}) {
    const lookup = guardedLookup(options, options.resolve);
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, lookup });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8, lookup });
  }

  public send(request: WebhookHttpRequest, target: string): Promise<WebhookHttpResponse> {
    const { url } = request;
    if (url.protocol === 'http:' && !this.options.allowHttp)
      return Promise.reject(new InsecureUrlError(target));
    // An IP literal is dialled without a lookup (Node skips it): check the literal itself.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(literal) !== 0) {
      const verdict = checkAddress(literal, this.options);
      if (!verdict.allowed)
        return Promise.reject(new AddressNotAllowedError(url.host, verdict.reason, verdict.range));
    }
    const keep = this.options.keepBytes ?? 1024;
    const drain = this.options.drainBytes ?? 64 * 1024;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, {
        method: request.method,
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
      });
      const timer = setTimeout(
        () => req.destroy(new WebhookTimeoutError(target, request.timeoutMs)),
        request.timeoutMs,
      );
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let read = 0;
        const finish = () => {
          clearTimeout(timer);
          const retryAfter = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            body: Buffer.concat(chunks).toString('utf8'),
          });
        };
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (kept < keep) {
            const part = chunk.subarray(0, keep - kept);
            chunks.push(part);
            kept += part.length;
          }
          // A receiver that streams without end must not hold the sender: the answer is what came so far.
          if (read > drain) {
            res.destroy();
            finish();
          }
        });
        res.on('end', finish);
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
      req.end(request.body);
    });
  }

  public destroy(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}
