// The SMART discovery document, GET [fhir base]/.well-known/smart-configuration
// (SMART App Launch 2.2 conformance.md "Metadata"; client-confidential-asymmetric.md
// "Advertising server support for this profile").
//
// Decision — no authorization_endpoint and no `authorization_code` grant: this server offers
// Backend Services only, and advertising a grant we do not implement would send app-launch
// clients to a dead end. Inferno's optional well_known_capabilities_stu2 test asks for both and
// will flag this; the discovery-document test itself passes. `code_challenge_methods_supported:
// ["S256"]` is listed because conformance.md marks it REQUIRED and it promises nothing false.
// `issuer`/`jwks_uri` are left out: they belong to sso-openid-connect, which we do not offer.
import type { PartnerDirectory } from '../config/partners.js';
import type { AuthUrls } from './auth-urls.js';
import { ASSERTION_ALGS } from './client-assertion.js';

const GENERIC_SCOPES = ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write', 'system/*.*'];

export function smartConfiguration(urls: AuthUrls, partners: PartnerDirectory) {
  const registered = partners.organizations.flatMap((o) => o.clients.flatMap((c) => c.scopes));
  return {
    token_endpoint: urls.tokenUrl,
    introspection_endpoint: urls.introspectionUrl,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    scopes_supported: [...new Set([...GENERIC_SCOPES, ...registered])],
    capabilities: ['client-confidential-asymmetric', 'permission-v2', 'permission-v1'],
    code_challenge_methods_supported: ['S256'],
  };
}
