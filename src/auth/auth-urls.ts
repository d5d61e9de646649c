// The absolute URLs of the auth surface, all derived from BASE_URL in one place: the token
// URL is the `aud` every client assertion must carry, so it must match what clients are told.

export interface AuthUrls {
  /** `iss` of our access tokens. */
  issuer: string;
  /** FHIR base URL: `aud` of our access tokens. */
  fhirBaseUrl: string;
  tokenUrl: string;
  introspectionUrl: string;
  jwksUrl: string;
}

export function authUrls(baseUrl: string): AuthUrls {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    issuer: base,
    fhirBaseUrl: `${base}/fhir`,
    tokenUrl: `${base}/auth/token`,
    introspectionUrl: `${base}/auth/introspect`,
    jwksUrl: `${base}/.well-known/jwks.json`,
  };
}
