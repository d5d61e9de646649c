// SMART system scopes: parse, negotiate (requested ∩ registered) and enforce.
// Spec: SMART App Launch 2.2 "Scopes and Launch Context" (scopes-and-launch-context.md) and
// "Backend Services" → "Scopes" / "Evaluate Requested Access".
//
// Decisions:
// - Only `system/` scopes exist for backend services; `patient/`, `user/`, `openid`, `launch`…
//   need a launch context we do not have, so they are never granted (ignored, never widened).
// - v2 permissions must be a non-empty subset of "cruds" in that order (`.rs`, `.cud`); an
//   undefined or out-of-order suffix (`.dus`, `.sr`) is ignored — the spec allows ignoring.
// - v1 compatibility: `.read` = `.rs`, `.write` = `.cud`, `.*` = `.cruds`; a scope requested in
//   v1 form is returned in v1 form when the grant can be written that way.
// - Finer-grained v2 scopes (`system/Observation.rs?category=laboratory`) are ignored when
//   requested and refused in the partner directory: we grant whole resource types only, so a
//   constrained request is never answered with a wider grant.

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
const PERMISSION_ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

/** One parsed `system/<Type|*>.<permissions>` scope. */
export interface SystemScope {
  /** A FHIR resource type, or `*` for every type. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** The syntax the scope was written in; decides how a grant is written back. */
  version: 1 | 2;
}

/** The scopes an access token carries, parsed once. */
export interface GrantedScopes {
  readonly scopes: readonly SystemScope[];
  /** Space-separated scope string, as returned in the token response and carried in the token. */
  readonly text: string;
}

/** A FHIR REST interaction (or the bulk export operation) a request performs on one type. */
export type Interaction =
  | 'read'
  | 'vread'
  | 'history' // instance history: reads one resource's versions
  | 'history-type'
  | 'search'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'export';

// scopes-and-launch-context.md "Scope Equivalence": read/vread/instance history are `r`;
// search and type history are `s`. Bulk export of a type needs both (it is a mass read found by a
// search; Inferno asks for system/*.read, bulk-data-client for system/*.rs).
const NEEDED: Record<Interaction, readonly Permission[]> = {
  read: ['r'],
  vread: ['r'],
  history: ['r'],
  'history-type': ['s'],
  search: ['s'],
  create: ['c'],
  update: ['u'],
  patch: ['u'],
  delete: ['d'],
  export: ['r', 's'],
};

const V1: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };
const SCOPE_RE = /^system\/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})$/;
const V2_RE = /^c?r?u?d?s?$/;

/** Parses one scope; undefined when it is not a grantable system scope (see decisions above). */
export function parseScope(scope: string): SystemScope | undefined {
  const m = SCOPE_RE.exec(scope);
  if (!m) return undefined;
  const [, resourceType, suffix] = m as unknown as [string, string, string];
  const v1 = V1[suffix];
  if (v1) return { resourceType, permissions: new Set(v1), version: 1 };
  if (suffix === '' || !V2_RE.test(suffix)) return undefined;
  return { resourceType, permissions: new Set(suffix as unknown as Iterable<Permission>), version: 2 };
}

/** Splits a space-separated scope string (RFC 6749 §3.3) into the scopes we can grant. */
export function parseScopes(text: string): SystemScope[] {
  return text
    .split(' ')
    .filter((s) => s !== '')
    .map(parseScope)
    .filter((s): s is SystemScope => s !== undefined);
}

export function formatScope(scope: SystemScope): string {
  const perms = PERMISSION_ORDER.filter((p) => scope.permissions.has(p)).join('');
  if (scope.version === 1) {
    for (const [name, set] of Object.entries(V1)) {
      if (set.join('') === perms) return `system/${scope.resourceType}.${name}`;
    }
  }
  return `system/${scope.resourceType}.${perms}`;
}

function intersect(requested: SystemScope, registered: SystemScope): SystemScope | undefined {
  let resourceType: string;
  if (registered.resourceType === '*') resourceType = requested.resourceType;
  else if (requested.resourceType === '*' || requested.resourceType === registered.resourceType) {
    resourceType = registered.resourceType;
  } else return undefined;
  const permissions = new Set([...requested.permissions].filter((p) => registered.permissions.has(p)));
  if (permissions.size === 0) return undefined;
  return { resourceType, permissions, version: requested.version };
}

/** Builds the GrantedScopes value for a list of scopes, merging duplicates of one type. */
export function grantedScopes(scopes: readonly SystemScope[]): GrantedScopes {
  const merged = new Map<string, SystemScope>();
  for (const s of scopes) {
    const key = `${s.resourceType}|${s.version}`;
    const prior = merged.get(key);
    merged.set(key, prior ? { ...s, permissions: new Set([...prior.permissions, ...s.permissions]) } : s);
  }
  const list = [...merged.values()];
  return { scopes: list, text: list.map(formatScope).join(' ') };
}

/**
 * Granted = requested ∩ registered (backend-services.md "Evaluate Requested Access": the server
 * may grant less than asked, never more). An empty result means `invalid_scope`.
 */
export function negotiateScopes(requested: string, registered: readonly string[]): GrantedScopes {
  const allowed = registered.map(parseScope).filter((s): s is SystemScope => s !== undefined);
  const out: SystemScope[] = [];
  for (const want of parseScopes(requested)) {
    for (const have of allowed) {
      const both = intersect(want, have);
      if (both) out.push(both);
    }
  }
  return grantedScopes(out);
}

/** Parses the scope string carried in one of our own access tokens. */
export function parseGrantedScopes(text: string): GrantedScopes {
  return grantedScopes(parseScopes(text));
}

/** True when the granted scopes allow `interaction` on `resourceType`. */
export function isAllowed(granted: GrantedScopes, resourceType: string, interaction: Interaction): boolean {
  const needed = NEEDED[interaction];
  const have = new Set<Permission>();
  for (const s of granted.scopes) {
    if (s.resourceType === '*' || s.resourceType === resourceType) for (const p of s.permissions) have.add(p);
  }
  return needed.every((p) => have.has(p));
}

/**
 * The resource types an interaction may reach: `'*'` for every type, otherwise the named ones.
 * For narrowing a bulk export without `_type`, or dropping `_include`d types outside the scope.
 */
export function allowedResourceTypes(granted: GrantedScopes, interaction: Interaction): '*' | ReadonlySet<string> {
  if (isAllowed(granted, '*', interaction)) return '*';
  const types = new Set(granted.scopes.map((s) => s.resourceType).filter((t) => t !== '*'));
  return new Set([...types].filter((t) => isAllowed(granted, t, interaction)));
}

/** The scope check in the shape the FHIR core asks for (`AccessCheck` in src/fhir/access.ts). */
export function scopeAccess(granted: GrantedScopes): { allows(resourceType: string, interaction: Interaction): boolean } {
  return { allows: (resourceType, interaction) => isAllowed(granted, resourceType, interaction) };
}
