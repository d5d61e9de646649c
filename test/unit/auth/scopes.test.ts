// SMART scopes (scopes-and-launch-context.md): parsing, requested ∩ registered, enforcement.
import {
  allowedResourceTypes,
  isAllowed,
  negotiateScopes,
  parseGrantedScopes,
  parseScope,
  scopeAccess,
  type Interaction,
} from '../../../src/auth/scopes.js';

describe('parseScope', () => {
  it.each([
    ['system/Patient.rs', 'Patient', 'rs', 2],
    ['system/*.cruds', '*', 'cruds', 2],
    ['system/Observation.c', 'Observation', 'c', 2],
    ['system/Patient.read', 'Patient', 'rs', 1],
    ['system/Patient.write', 'Patient', 'cud', 1],
    ['system/*.*', '*', 'cruds', 1],
  ])('reads %s', (text, type, perms, version) => {
    const s = parseScope(text)!;
    expect({ type: s.resourceType, perms: [...s.permissions].join(''), version: s.version }).toEqual({ type, perms, version });
  });

  it.each([
    'patient/Patient.rs',
    'user/Observation.read',
    'System/Patient.rs',
    'system/Patient.dus', // out of order
    'system/Patient.sr',
    'system/Patient.x',
    'system/Patient.',
    'system/patient.rs',
    'system/Observation.rs?category=laboratory',
    'openid',
    'launch',
    'system/Patient.rs extra',
  ])('ignores %s', (text) => {
    expect(parseScope(text)).toBeUndefined();
  });
});

describe('negotiateScopes (requested ∩ registered)', () => {
  it('grants what was asked when it is registered', () => {
    expect(negotiateScopes('system/Patient.rs', ['system/Patient.rs']).text).toBe('system/Patient.rs');
  });

  it('narrows a wildcard request to the registered types', () => {
    expect(negotiateScopes('system/*.cruds', ['system/Patient.rs', 'system/Observation.r']).text).toBe(
      'system/Patient.rs system/Observation.r',
    );
  });

  it('narrows permissions to the registered ones', () => {
    expect(negotiateScopes('system/Patient.cruds', ['system/*.rs']).text).toBe('system/Patient.rs');
  });

  it('answers a v1 request in v1 form when the grant can be written so', () => {
    expect(negotiateScopes('system/*.read', ['system/*.cruds']).text).toBe('system/*.read');
    expect(negotiateScopes('system/Patient.*', ['system/*.cruds']).text).toBe('system/Patient.*');
    expect(negotiateScopes('system/Patient.write', ['system/Patient.rs', 'system/Patient.c']).text).toBe('system/Patient.c');
  });

  it('accepts v1 registrations for v2 requests', () => {
    expect(negotiateScopes('system/Observation.rs', ['system/*.read']).text).toBe('system/Observation.rs');
  });

  it('grants nothing for scopes outside the registration, never widening', () => {
    expect(negotiateScopes('system/Condition.rs', ['system/Patient.rs']).scopes).toHaveLength(0);
    expect(negotiateScopes('system/Observation.rs?category=laboratory', ['system/*.cruds']).scopes).toHaveLength(0);
    expect(negotiateScopes('patient/*.rs user/*.rs', ['system/*.cruds']).scopes).toHaveLength(0);
  });

  it('merges duplicate requests for one type', () => {
    expect(negotiateScopes('system/Patient.r system/Patient.s', ['system/*.cruds']).text).toBe('system/Patient.rs');
  });
});

describe('isAllowed', () => {
  const obs = parseGrantedScopes('system/Observation.rs');

  it('refuses a scope for Observation used on Patient', () => {
    expect(isAllowed(obs, 'Observation', 'read')).toBe(true);
    expect(isAllowed(obs, 'Patient', 'read')).toBe(false);
    expect(isAllowed(obs, 'Patient', 'search')).toBe(false);
  });

  it.each<[string, Interaction, boolean]>([
    ['system/Observation.r', 'read', true],
    ['system/Observation.r', 'vread', true],
    ['system/Observation.r', 'history', true],
    ['system/Observation.r', 'search', false],
    ['system/Observation.s', 'read', false],
    ['system/Observation.s', 'search', true],
    ['system/Observation.s', 'history-type', true],
    ['system/Observation.rs', 'create', false],
    ['system/Observation.rs', 'update', false],
    ['system/Observation.rs', 'delete', false],
    ['system/Observation.c', 'create', true],
    ['system/Observation.u', 'update', true],
    ['system/Observation.u', 'patch', true],
    ['system/Observation.d', 'delete', true],
    ['system/Observation.r', 'export', false],
    ['system/Observation.rs', 'export', true],
    ['system/Observation.read', 'export', true],
    ['system/Observation.write', 'read', false],
    ['system/*.cruds', 'delete', true],
  ])('%s allows %s: %s', (scope, interaction, expected) => {
    expect(isAllowed(parseGrantedScopes(scope), 'Observation', interaction)).toBe(expected);
  });

  it('combines permissions from a wildcard and a typed scope', () => {
    const g = parseGrantedScopes('system/*.r system/Patient.s');
    expect(isAllowed(g, 'Patient', 'export')).toBe(true);
    expect(isAllowed(g, 'Observation', 'export')).toBe(false);
  });

  it('exposes the check in the shape of the FHIR core AccessCheck', () => {
    const access = scopeAccess(obs);
    expect(access.allows('Observation', 'search')).toBe(true);
    expect(access.allows('Condition', 'search')).toBe(false);
  });
});

describe('allowedResourceTypes', () => {
  it('lists the types an interaction may reach (for _include filtering and export narrowing)', () => {
    expect(allowedResourceTypes(parseGrantedScopes('system/*.rs'), 'search')).toBe('*');
    const types = allowedResourceTypes(parseGrantedScopes('system/Observation.rs system/Patient.r system/Condition.s'), 'export');
    expect(types).toEqual(new Set(['Observation']));
  });
});
