// The gateway as a SMART Backend Services client of a partner: signs a client assertion with
// the gateway key, gets an access token from the partner's tokenUrl, caches it until shortly
// before it expires, and hands out fhir-kit-client instances that carry it.
// Spec: backend-services.md "Obtain access token"; client-confidential-asymmetric.md.
import { Client } from 'fhir-kit-client';
import type { PartnerEndpoint } from '../config/partners.js';
import type { GatewayKeys, SigningAlg } from './gateway-keys.js';
import { JWT_BEARER, signClientAssertion } from './client-assertion.js';

export interface OutboundClientOptions {
  endpoint: PartnerEndpoint;
  keys: GatewayKeys;
  /** Key the assertion is signed with (default ES384); the partner must have our public JWKS. */
  alg?: SigningAlg;
  /** Renew this long before the token expires (default 30 s), so a request never carries a token that dies in flight. */
  refreshMarginSeconds?: number;
  /** Token request timeout (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

/** A failed token request; `oauthError` is the partner's RFC 6749 error code when it sent one. */
export class PartnerTokenError extends Error {
  override name = 'PartnerTokenError';
  constructor(
    message: string,
    public readonly status?: number,
    public readonly oauthError?: string,
  ) {
    super(message);
  }
}

/** POSTs a client_credentials request with a client assertion (backend-services.md "Request"). */
export async function postTokenRequest(
  tokenUrl: string,
  assertion: string,
  scope: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, client_assertion_type: JWT_BEARER, client_assertion: assertion }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}, not JSON` }))) as Record<string, unknown>;
  return { status: res.status, body };
}

interface CachedToken {
  accessToken: string;
  /** Epoch ms after which we stop using it. */
  renewAt: number;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { response?: { status?: number } } | undefined)?.response?.status;
}

export class OutboundClient {
  private cached?: CachedToken;
  private pending?: Promise<string>;
  private readonly now: () => number;

  constructor(private readonly opts: OutboundClientOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** A valid access token; concurrent callers during a refresh share one token request. */
  getAccessToken(): Promise<string> {
    if (this.cached && this.now() < this.cached.renewAt) return Promise.resolve(this.cached.accessToken);
    this.pending ??= this.requestToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * Forgets `accessToken` (after the partner answered 401 to it). A token already replaced by a
   * newer one is left alone, so many requests failing with the same old token cause one refresh.
   */
  invalidate(accessToken: string): void {
    if (this.cached?.accessToken === accessToken) this.cached = undefined;
  }

  /** Runs `fn` with an authorized client; on a 401, renews the token once and runs it again. */
  async withFhirClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const token = await this.getAccessToken();
    try {
      return await fn(this.clientWith(token));
    } catch (err) {
      if (httpStatus(err) !== 401) throw err;
      this.invalidate(token);
      return fn(this.clientWith(await this.getAccessToken()));
    }
  }

  /**
   * A fhir-kit-client whose every request method (read, search, create, transaction, …) gets a
   * current token and the one retry on 401 of withFhirClient.
   */
  fhirClient(): Client {
    const template = new Client({ baseUrl: this.opts.endpoint.fhirBaseUrl });
    return new Proxy(template, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'constructor') return value;
        return (...args: unknown[]) =>
          this.withFhirClient((client) => (Reflect.get(client, prop) as (...a: unknown[]) => Promise<unknown>).apply(client, args));
      },
    });
  }

  private clientWith(accessToken: string): Client {
    return new Client({ baseUrl: this.opts.endpoint.fhirBaseUrl, bearerToken: accessToken });
  }

  private async requestToken(): Promise<string> {
    const { endpoint, keys } = this.opts;
    const key = keys.signing[this.opts.alg ?? 'ES384'];
    const assertion = await signClientAssertion({ clientId: endpoint.clientId, tokenUrl: endpoint.tokenUrl, key, now: this.now });
    const { status, body } = await postTokenRequest(endpoint.tokenUrl, assertion, endpoint.scope, this.opts.timeoutMs);
    if (status !== 200 || typeof body.access_token !== 'string') {
      const code = typeof body.error === 'string' ? body.error : undefined;
      throw new PartnerTokenError(`Token request to ${endpoint.tokenUrl} failed: HTTP ${status}${code ? ` ${code}` : ''}`, status, code);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 300;
    const margin = Math.min(this.opts.refreshMarginSeconds ?? 30, expiresIn / 2);
    this.cached = { accessToken: body.access_token, renewAt: this.now() + (expiresIn - margin) * 1000 };
    return body.access_token;
  }
}

/** One OutboundClient per partner organization that has an endpoint, keyed by organization id. */
export function createOutboundClients(
  organizations: ReadonlyArray<{ id: string; endpoint?: PartnerEndpoint }>,
  keys: GatewayKeys,
  opts: Omit<OutboundClientOptions, 'endpoint' | 'keys'> = {},
): Map<string, OutboundClient> {
  const clients = new Map<string, OutboundClient>();
  for (const org of organizations) if (org.endpoint) clients.set(org.id, new OutboundClient({ ...opts, endpoint: org.endpoint, keys }));
  return clients;
}
